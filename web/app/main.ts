/**
 * The web app: open a NIfTI, pick a model, segment it in the page with the SDK's own pipeline (sdk/browser.ts:
 * nnU-Net's preprocessing, Gaussian sliding window, mirroring TTA, fold averaging, export, postprocessing), look at
 * it in three planes, download it. Nothing is uploaded: models come from the server, the scan stays in the page.
 *
 * State for tests and benchmarks: document.body.dataset.state is 'starting' | 'ready' | 'running' | 'done' |
 * 'error' | 'cancelled'; window.nnunetApp holds the last result (timings, backend, the segmentation's voxels).
 * `?backend=wasm|webgl|webgpu` picks the backend, `?model=<id>` the model, `?viewer=0` leaves the viewer out.
 */
import {
  decodeNifti,
  disposeWebModel,
  encodeNifti,
  checkTensorFits,
  GpuExecutionError,
  initBackend,
  labelVolumesMl,
  loadAnyWebModel,
  niftiBaseName,
  PredictionCancelled,
  predictWebModel,
  setNiftiReaderLoader,
  type BackendInfo,
  type LoadedWebModel,
  type NiftiFile,
  type WebModelManifest,
} from '../../sdk/browser';
import { SliceViewer } from './viewer';

setNiftiReaderLoader(() => import('nifti-reader-js'));

interface ModelEntry {
  id: string;
  name: string;
  description: string;
}

interface AppResult {
  caseId: string;
  backend: string;
  seconds: number;
  timings: { preprocess_s: number; predict_s: number; export_s: number };
  segmentationVoxels: number[];
  volumes: ReturnType<typeof labelVolumesMl>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  model: $<HTMLSelectElement>('model'),
  modelInfo: $('model-info'),
  backend: $<HTMLSelectElement>('backend'),
  backendInfo: $('backend-info'),
  drop: $('drop'),
  file: $<HTMLInputElement>('file'),
  imageInfo: $('image-info'),
  tta: $<HTMLInputElement>('tta'),
  run: $<HTMLButtonElement>('run'),
  cancel: $<HTMLButtonElement>('cancel'),
  progress: $<HTMLProgressElement>('progress'),
  status: $('status'),
  error: $('error'),
  volumes: $<HTMLTableElement>('volumes'),
  download: $<HTMLAnchorElement>('download'),
  viewerInfo: $('viewer-info'),
};

const params = new URLSearchParams(location.search);
const app = {
  models: [] as ModelEntry[],
  manifest: null as WebModelManifest | null,
  model: null as LoadedWebModel | null,
  modelId: '',
  backend: null as BackendInfo | null,
  image: null as { file: NiftiFile; bytes: Uint8Array; name: string } | null,
  abort: null as AbortController | null,
  viewer: null as SliceViewer | null,
  result: null as AppResult | null,
  downloadUrl: '',
};
(window as unknown as { nnunetApp: typeof app }).nnunetApp = app;

function setState(s: string): void {
  document.body.dataset.state = s;
}

function showError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  ui.error.textContent = msg;
  ui.error.hidden = false;
  console.error(e);
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

function refreshButtons(running = false): void {
  ui.run.disabled = running || !app.model || !app.image || !app.backend;
  ui.cancel.disabled = !running;
  ui.model.disabled = running || app.models.length === 0;
  ui.backend.disabled = running;
  ui.file.disabled = running;
}

const nextFrame = () => new Promise<void>((r) => setTimeout(r, 0));

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function startBackend(): Promise<void> {
  const wanted = ui.backend.value as 'auto' | 'webgpu' | 'webgl' | 'wasm';
  ui.backendInfo.textContent = 'backend: starting…';
  // networks live on a backend: drop the loaded model and load it again on the new one
  disposeWebModel(app.model);
  app.model = null;
  app.backend = null;
  try {
    app.backend = await initBackend({ backend: wanted, log: false, wasmPaths: new URL('wasm/', location.href).href });
    const b = app.backend;
    const detail = b.adapter ? ` on ${b.adapter.vendor || ''} ${b.adapter.device || b.adapter.description || ''}${b.adapter.software ? ' (software adapter)' : ''}` : b.backend === 'wasm' ? ` (${b.simd ? 'SIMD' : 'no SIMD'}, conv kernels ${b.convKernels})` : '';
    ui.backendInfo.textContent = `backend: ${b.backend}${detail}` + (b.skipped.length ? `; skipped: ${b.skipped.join('; ')}` : '');
  } catch (e) {
    ui.backendInfo.textContent = 'backend: none';
    showError(e);
  }
  if (app.modelId) await selectModel(app.modelId);
}

async function loadModels(): Promise<void> {
  const list = JSON.parse(new TextDecoder().decode(await fetchBytes('models/index.json'))) as { models: ModelEntry[] };
  app.models = list.models;
  ui.model.innerHTML = '';
  for (const m of app.models) {
    const o = document.createElement('option');
    o.value = m.id;
    o.textContent = m.name;
    ui.model.append(o);
  }
  if (app.models.length === 0) {
    ui.modelInfo.textContent = 'no models served (start with: npx nnunet-ts serve --model NAME or -t TASK -c CONFIG)';
    return;
  }
  const want = params.get('model');
  ui.model.value = want && app.models.some((m) => m.id === want) ? want : app.models[0].id;
}

async function selectModel(id: string): Promise<void> {
  clearError();
  disposeWebModel(app.model);
  app.model = null;
  app.modelId = id;
  refreshButtons();
  if (!app.backend) return;
  ui.modelInfo.textContent = 'loading model…';
  try {
    const base = `models/${encodeURIComponent(id)}/`;
    const manifest = JSON.parse(new TextDecoder().decode(await fetchBytes(`${base}model.json`))) as WebModelManifest;
    app.model = await loadAnyWebModel(manifest, (f) => fetchBytes(base + encodeURIComponent(f)), `models/${id}`);
    app.manifest = manifest;
    const cfg = manifest.pipeline === 'v2' ? manifest.v2!.configuration : manifest.plans.configurations?.[manifest.configuration];
    const labels = Object.entries(manifest.labels).filter(([k]) => k !== '0').map(([, v]) => v);
    ui.modelInfo.textContent =
      `${manifest.description}. Configuration ${manifest.configuration} (nnU-Net ${manifest.pipeline} pipeline), patch ${cfg?.patch_size?.join('x')}, ` +
      `${manifest.folds.length} fold(s), input ${Object.values(manifest.channels).join(' + ') || `${app.model.numImageChannels} channel(s)`}, labels: ${labels.join(', ')}` +
      (cfg?.spacing ? `, spacing ${cfg.spacing.map((s: number) => s.toFixed(2)).join(' x ')} mm` : '');
  } catch (e) {
    ui.modelInfo.textContent = 'model not loaded';
    showError(e);
  }
  refreshButtons();
}

/** What the image looks like against what the model was trained on; a warning, not a refusal. */
function modalityWarning(f: NiftiFile, m: WebModelManifest): string | null {
  const names = Object.values(m.channels).join(' ').toLowerCase();
  const v = f.volumes[0].data;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < v.length; i += 97) {
    min = Math.min(min, v[i]);
    max = Math.max(max, v[i]);
  }
  const looksCt = min <= -500 && max >= 300;
  if (names.includes('ct') && !looksCt) return `the model was trained on CT but this image's intensities (${min.toFixed(0)}..${max.toFixed(0)}) do not look like Hounsfield units`;
  if (names && !names.includes('ct') && looksCt) return `the model was trained on ${names} but this image looks like CT (${min.toFixed(0)}..${max.toFixed(0)} HU)`;
  return null;
}

async function openFile(file: File): Promise<void> {
  clearError();
  app.image = null;
  ui.imageInfo.textContent = `reading ${file.name}…`;
  ui.download.hidden = true;
  ui.volumes.hidden = true;
  refreshButtons();
  try {
    if (!/\.nii(\.gz)?$/i.test(file.name)) throw new Error(`${file.name}: not a NIfTI file name (.nii or .nii.gz)`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const nifti = await decodeNifti(bytes, file.name);
    app.image = { file: nifti, bytes, name: file.name };
    const v = nifti.volumes[0];
    ui.imageInfo.textContent =
      `${file.name}: ${v.shape.join(' x ')} voxels (z, y, x), spacing ${v.spacing.map((s) => s.toFixed(2)).join(' x ')} mm` +
      (nifti.volumes.length > 1 ? `, ${nifti.volumes.length} channels` : '');
    if (app.manifest) {
      const w = modalityWarning(nifti, app.manifest);
      if (w) ui.imageInfo.textContent += `. Warning: ${w}.`;
    }
    setState('ready');
    await app.viewer?.showImage(bytes, file.name);
  } catch (e) {
    ui.imageInfo.textContent = '';
    setState('error');
    showError(e);
  }
  refreshButtons();
}

/** Refuse cases whose whole-volume buffers would not fit a page (Chrome's ArrayBuffer limit is 2-4 GiB). */
function checkFitsPage(m: LoadedWebModel, f: NiftiFile): void {
  const v = f.volumes[0];
  const cfg = m.pipeline === 'v2' ? m.model.configuration : m.model.json.configurations?.[m.model.configuration];
  const numClasses = m.pipeline === 'v2' ? m.model.architecture.numClasses : m.model.numClasses;
  const spacing = v.spacing;
  const target = cfg?.spacing && cfg.spacing.length === 3 ? cfg.spacing : spacing;
  // the plans' spacing is in transposed order; the product is what matters here
  const scale = spacing.reduce((a, s) => a * s, 1) / target.reduce((a: number, s: number) => a * s, 1);
  const vox = v.data.length * Math.max(1, scale);
  const bytes = vox * 4 * (numClasses * 2 + m.numImageChannels + 2);
  if (app.backend?.backend === 'webgpu') {
    // the largest tensor of one network call: the mirrored tile batch at the top stage's concatenation (2 x base features)
    const patch = m.pipeline === 'v2' ? m.model.configuration.patch_size : m.model.patch;
    const base = m.pipeline === 'v2' ? m.model.architecture.featuresPerStage[0] : m.model.nets[0].architecture.baseNumFeatures;
    const mirrors = ui.tta.checked ? 2 ** patch.length : 1;
    checkTensorFits(mirrors * 2 * base * patch.reduce((a: number, b: number) => a * b, 1) * 4, `${app.manifest?.name ?? 'model'} (patch ${patch.join('x')}, ${mirrors} mirrored tile(s) per call)`);
  }
  const limit = 2 ** 31;
  if (bytes > limit) {
    throw new Error(
      `${app.image?.name}: too large for this page: predicting it needs about ${(bytes / 2 ** 30).toFixed(1)} GiB of arrays ` +
        `(${v.shape.join('x')} voxels resampled to the model's spacing, ${numClasses} classes), more than a page may hold (2 GiB). ` +
        'Use the command line (npx nnunet-ts predict), which has no such limit.',
    );
  }
}

async function run(): Promise<void> {
  if (!app.model || !app.image || !app.manifest) return;
  clearError();
  ui.download.hidden = true;
  ui.volumes.hidden = true;
  const abort = new AbortController();
  app.abort = abort;
  refreshButtons(true);
  setState('running');
  ui.progress.value = 0;
  ui.status.textContent = 'preprocessing…';
  await nextFrame();
  const caseId = niftiBaseName(app.image.name).replace(/_0000$/, '');
  const t0 = performance.now();
  try {
    checkFitsPage(app.model, app.image.file);
    const r = await predictWebModel(app.image.file.volumes, app.model, {
      id: app.image.name,
      mirroring: ui.tta.checked,
      signal: abort.signal,
      onProgress: async (done, total) => {
        ui.progress.value = done / total;
        ui.status.textContent = `network ${done} / ${total}`;
        await nextFrame();
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const seg = r.segmentation;
    const bytes = await encodeNifti(seg, { dtype: 'uint8', gzip: true });
    if (app.downloadUrl) URL.revokeObjectURL(app.downloadUrl);
    app.downloadUrl = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/gzip' }));
    ui.download.href = app.downloadUrl;
    ui.download.download = `${caseId}_seg.nii.gz`;
    ui.download.hidden = false;
    const volumes = labelVolumesMl(seg.data, seg.spacing, app.manifest.labels);
    const body = ui.volumes.tBodies[0];
    body.innerHTML = '';
    for (const v of volumes) {
      const c = app.manifest.colors[String(v.label)] ?? [128, 128, 128];
      const tr = document.createElement('tr');
      tr.innerHTML = `<td><span class="swatch" style="background: rgb(${c.join(',')})"></span></td><td></td><td>${v.voxels}</td><td>${v.ml.toFixed(2)}</td>`;
      tr.children[1].textContent = v.name;
      body.append(tr);
    }
    ui.volumes.hidden = false;
    ui.progress.value = 1;
    ui.status.textContent = `done in ${seconds.toFixed(1)} s on ${app.backend?.backend} (preprocessing ${r.timings.preprocess_s.toFixed(1)} s, network ${r.timings.predict_s.toFixed(1)} s)`;
    app.result = { caseId, backend: app.backend?.backend ?? '?', seconds, timings: r.timings, segmentationVoxels: Array.from(seg.data), volumes };
    await app.viewer?.showSegmentation(bytes, app.manifest.colors, app.manifest.labels);
    setState('done');
  } catch (e) {
    if (e instanceof PredictionCancelled) {
      ui.status.textContent = 'cancelled';
      ui.progress.value = 0;
      setState('cancelled');
    } else {
      ui.status.textContent = 'failed';
      showError(e instanceof GpuExecutionError ? new Error(`${e.message}\nTry the WASM backend (slower, no GPU limits).`) : e);
      setState('error');
    }
  } finally {
    app.abort = null;
    refreshButtons(false);
  }
}

async function main(): Promise<void> {
  setState('starting');
  const b = params.get('backend');
  if (b && [...ui.backend.options].some((o) => o.value === b)) ui.backend.value = b;
  if (params.get('viewer') === '0') ui.viewerInfo.textContent = 'viewer off (?viewer=0)';
  else {
    app.viewer = await SliceViewer.attach(document.getElementById('viewer') as HTMLCanvasElement);
    ui.viewerInfo.textContent = app.viewer.error ?? 'drag to move the crosshair; scroll to change slices';
  }
  try {
    await loadModels();
  } catch (e) {
    showError(e);
  }
  if (app.models.length) app.modelId = ui.model.value;
  await startBackend();
  ui.model.addEventListener('change', () => void selectModel(ui.model.value));
  ui.backend.addEventListener('change', () => void startBackend());
  ui.file.addEventListener('change', () => {
    const f = ui.file.files?.[0];
    if (f) void openFile(f);
  });
  ui.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  ui.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    ui.drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) void openFile(f);
  });
  ui.run.addEventListener('click', () => void run());
  ui.cancel.addEventListener('click', () => app.abort?.abort());
  refreshButtons();
  if (document.body.dataset.state === 'starting') setState(app.model ? 'ready' : 'error');
}

void main();
