/**
 * The 3-plane viewer: niivue (WebGL2) with the image and, once predicted, the segmentation as a label overlay in the
 * model's label colours. When the browser has no WebGL2 the app still segments; the viewer says why it is blank.
 */
import { Niivue, SLICE_TYPE } from '@niivue/niivue';
import type { Rgb } from '../../sdk/browser';

export class SliceViewer {
  private nv: Niivue | null = null;
  private urls: string[] = [];
  readonly error: string | null;

  private constructor(nv: Niivue | null, error: string | null) {
    this.nv = nv;
    this.error = error;
  }

  static async attach(canvas: HTMLCanvasElement): Promise<SliceViewer> {
    try {
      const nv = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isResizeCanvas: true });
      await nv.attachToCanvas(canvas);
      nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
      return new SliceViewer(nv, null);
    } catch (e) {
      return new SliceViewer(null, `viewer unavailable (${(e as Error).message}); segmentation still runs`);
    }
  }

  private url(bytes: Uint8Array): string {
    const u = URL.createObjectURL(new Blob([bytes as BlobPart]));
    this.urls.push(u);
    return u;
  }

  private clear(): void {
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
  }

  /** Show an image (the bytes of the opened file; `name` keeps its .nii/.nii.gz extension for niivue). */
  async showImage(bytes: Uint8Array, name: string): Promise<void> {
    if (!this.nv) return;
    this.clear();
    await this.nv.loadVolumes([{ url: this.url(bytes), name }]);
  }

  /** Overlay a label map (NIfTI bytes in the image's geometry) with one colour per label. */
  async showSegmentation(bytes: Uint8Array, colors: Record<string, Rgb>, names: Record<string, string>): Promise<void> {
    const nv = this.nv;
    if (!nv) return;
    while (nv.volumes.length > 1) nv.removeVolume(nv.volumes[nv.volumes.length - 1]);
    await nv.addVolumeFromUrl({ url: this.url(bytes), name: 'segmentation.nii.gz', opacity: 0.6 });
    const keys = Object.keys(colors).map(Number).sort((a, b) => a - b);
    const lut = {
      R: keys.map((k) => colors[k][0]),
      G: keys.map((k) => colors[k][1]),
      B: keys.map((k) => colors[k][2]),
      A: keys.map((k) => (k === 0 ? 0 : 255)),
      I: keys,
      labels: keys.map((k) => names[k] ?? `label ${k}`),
    };
    nv.volumes[nv.volumes.length - 1].setColormapLabel(lut);
    nv.updateGLVolume();
  }
}
