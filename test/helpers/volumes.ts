/** Small test volumes shared by the NIfTI tests of both suites. */
import { NiftiDtype } from '../../sdk/io/nifti';
import { makeVolume, Volume } from '../../sdk/io/volume';

export const ALL_DTYPES: NiftiDtype[] = ['uint8', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64'];
export const CTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

export function testVolume(dtype: NiftiDtype, direction: number[]): Volume {
  const shape: [number, number, number] = [5, 7, 3];
  const n = 5 * 7 * 3;
  const data = new CTORS[dtype](n);
  for (let i = 0; i < n; i++) data[i] = dtype.startsWith('float') ? (i - 40) * 0.37 + 1e-3 * (i % 7) : (i * 7) % 100;
  return makeVolume(data, shape, {
    spacing: [Math.fround(2.5), Math.fround(0.7812), Math.fround(0.7812)],
    origin: [Math.fround(-120.4), Math.fround(88.25), Math.fround(-301.7)],
    direction: direction as Volume['direction'],
  });
}

