/**
 * Rotations between the forms users and FLAME speak: Euler angles in degrees (yaw about y, pitch about x,
 * roll about z, applied as R = Ry(yaw) · Rx(pitch) · Rz(roll)), 3×3 matrices (row-major), axis-angle
 * vectors (FLAME's `global_rot`, `jaw`) and 6D rotations (the first two columns, FLAME's `eyes`).
 * Positive yaw turns the nose toward the viewer's right (the head's own left, +x in FLAME's frame), positive
 * pitch tilts the face down, positive roll tilts the top of the head toward the viewer's left (the head's
 * right shoulder). These match the head model in weights-tools/world/head.py.
 */

export type Mat3 = [number, number, number, number, number, number, number, number, number];

const DEG = Math.PI / 180;

export function matmul3(a: Mat3, b: Mat3): Mat3 {
  const r = new Array<number>(9).fill(0) as Mat3;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) r[3 * i + j] += a[3 * i + k]! * b[3 * k + j]!;
  return r;
}

export function eulerToMatrix(yawDeg: number, pitchDeg: number, rollDeg: number): Mat3 {
  const [y, p, r] = [yawDeg * DEG, pitchDeg * DEG, rollDeg * DEG];
  const ry: Mat3 = [Math.cos(y), 0, Math.sin(y), 0, 1, 0, -Math.sin(y), 0, Math.cos(y)];
  const rx: Mat3 = [1, 0, 0, 0, Math.cos(p), -Math.sin(p), 0, Math.sin(p), Math.cos(p)];
  const rz: Mat3 = [Math.cos(r), -Math.sin(r), 0, Math.sin(r), Math.cos(r), 0, 0, 0, 1];
  return matmul3(matmul3(ry, rx), rz);
}

/** Inverse of `eulerToMatrix` (pitch in (-90°, 90°)). Returns [yaw, pitch, roll] in degrees. */
export function matrixToEuler(m: Mat3): [number, number, number] {
  // R = Ry Rx Rz: m[5] = -sin(p); m[2] = sin(y)cos(p); m[8] = cos(y)cos(p); m[3] = cos(p)sin(r); m[4] = cos(p)cos(r).
  const pitch = Math.asin(Math.max(-1, Math.min(1, -m[5])));
  const yaw = Math.atan2(m[2], m[8]);
  const roll = Math.atan2(m[3], m[4]);
  return [yaw / DEG, pitch / DEG, roll / DEG];
}

/** Rodrigues: axis-angle (radians, the vector's length) to a matrix. */
export function axisAngleToMatrix(v: ArrayLike<number>): Mat3 {
  const [x, y, z] = [v[0]!, v[1]!, v[2]!];
  const angle = Math.hypot(x, y, z);
  if (angle < 1e-12) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const [kx, ky, kz] = [x / angle, y / angle, z / angle];
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const t = 1 - c;
  return [
    t * kx * kx + c, t * kx * ky - s * kz, t * kx * kz + s * ky,
    t * kx * ky + s * kz, t * ky * ky + c, t * ky * kz - s * kx,
    t * kx * kz - s * ky, t * ky * kz + s * kx, t * kz * kz + c,
  ];
}

/** Matrix to axis-angle, stable near 0 and π. */
export function matrixToAxisAngle(m: Mat3): [number, number, number] {
  const cos = Math.max(-1, Math.min(1, (m[0] + m[4] + m[8] - 1) / 2));
  const angle = Math.acos(cos);
  if (angle < 1e-7) return [(m[7] - m[5]) / 2, (m[2] - m[6]) / 2, (m[3] - m[1]) / 2];
  if (Math.PI - angle < 1e-4) {
    // Near π the antisymmetric part vanishes: take the axis from the diagonal.
    const xx = Math.sqrt(Math.max(0, (m[0] + 1) / 2));
    const yy = Math.sqrt(Math.max(0, (m[4] + 1) / 2));
    const zz = Math.sqrt(Math.max(0, (m[8] + 1) / 2));
    const axis: [number, number, number] = xx >= yy && xx >= zz ? [xx, (m[1] + m[3]) / (4 * xx), (m[2] + m[6]) / (4 * xx)]
      : yy >= zz ? [(m[1] + m[3]) / (4 * yy), yy, (m[5] + m[7]) / (4 * yy)]
      : [(m[2] + m[6]) / (4 * zz), (m[5] + m[7]) / (4 * zz), zz];
    const n = Math.hypot(...axis);
    return [(axis[0] / n) * angle, (axis[1] / n) * angle, (axis[2] / n) * angle];
  }
  const k = angle / (2 * Math.sin(angle));
  return [(m[7] - m[5]) * k, (m[2] - m[6]) * k, (m[3] - m[1]) * k];
}

export const eulerToAxisAngle = (yaw: number, pitch: number, roll: number) => matrixToAxisAngle(eulerToMatrix(yaw, pitch, roll));
export const axisAngleToEuler = (v: ArrayLike<number>) => matrixToEuler(axisAngleToMatrix(v));

/** 6D rotation: the first two columns of the matrix, column by column (as in Zhou et al. and FLAME fits). */
export function matrixTo6d(m: Mat3): [number, number, number, number, number, number] {
  return [m[0], m[3], m[6], m[1], m[4], m[7]];
}

/** Gram–Schmidt back to a matrix. */
export function sixdToMatrix(d: ArrayLike<number>): Mat3 {
  const a1 = [d[0]!, d[1]!, d[2]!];
  const a2 = [d[3]!, d[4]!, d[5]!];
  const n1 = Math.hypot(...a1) || 1;
  const b1 = a1.map((v) => v / n1);
  const dot = b1[0]! * a2[0]! + b1[1]! * a2[1]! + b1[2]! * a2[2]!;
  const u2 = a2.map((v, i) => v - dot * b1[i]!);
  const n2 = Math.hypot(...u2) || 1;
  const b2 = u2.map((v) => v / n2);
  const b3 = [b1[1]! * b2[2]! - b1[2]! * b2[1]!, b1[2]! * b2[0]! - b1[0]! * b2[2]!, b1[0]! * b2[1]! - b1[1]! * b2[0]!];
  return [b1[0]!, b2[0]!, b3[0]!, b1[1]!, b2[1]!, b3[1]!, b1[2]!, b2[2]!, b3[2]!];
}

/** The identity as a 6D rotation (eyes looking straight ahead). */
export const IDENTITY_6D = [1, 0, 0, 0, 1, 0] as const;
