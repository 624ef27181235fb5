/**
 * Rotation matrices of batchgenerators (augmentations/utils.py), applied to coordinates as row vectors (v' = v·R),
 * R = Rx(a_x)·Ry(a_y)·Rz(a_z) (reference Appendix C.3). Axis "x" of batchgenerators is our first array axis.
 */
export type Mat3 = [number, number, number, number, number, number, number, number, number];
export type Mat2 = [number, number, number, number];

function mul3(a: Mat3, b: Mat3): Mat3 {
  const r = new Array<number>(9) as Mat3;
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  return r;
}

export function rotationX3d(a: number): Mat3 {
  const c = Math.cos(a), s = Math.sin(a);
  return [1, 0, 0, 0, c, -s, 0, s, c];
}
export function rotationY3d(a: number): Mat3 {
  const c = Math.cos(a), s = Math.sin(a);
  return [c, 0, s, 0, 1, 0, -s, 0, c];
}
export function rotationZ3d(a: number): Mat3 {
  const c = Math.cos(a), s = Math.sin(a);
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}
/** rotate_coords_3d's matrix: I·Rx·Ry·Rz. */
export function rotationMatrix3d(ax: number, ay: number, az: number): Mat3 {
  return mul3(mul3(rotationX3d(ax), rotationY3d(ay)), rotationZ3d(az));
}
export function rotationMatrix2d(a: number): Mat2 {
  const c = Math.cos(a), s = Math.sin(a);
  return [c, -s, s, c];
}

/** v·R for a row vector v. */
export function rotateVector3d(v: readonly number[], R: Mat3): [number, number, number] {
  return [
    v[0] * R[0] + v[1] * R[3] + v[2] * R[6],
    v[0] * R[1] + v[1] * R[4] + v[2] * R[7],
    v[0] * R[2] + v[1] * R[5] + v[2] * R[8],
  ];
}
export function rotateVector2d(v: readonly number[], R: Mat2): [number, number] {
  return [v[0] * R[0] + v[1] * R[2], v[0] * R[1] + v[1] * R[3]];
}
