/**
 * Monotone cubic interpolation (Fritsch–Carlson) through keyframes: smooth (C1), passes through every key,
 * and never overshoots between two keys, so a requested 20° yaw is never exceeded on the way there.
 */
export interface Key {
  t: number;
  value: number;
}

export function monotoneCubic(keys: readonly Key[]): (t: number) => number {
  const k = [...keys].sort((a, b) => a.t - b.t);
  const n = k.length;
  if (n === 0) return () => 0;
  if (n === 1) return () => k[0]!.value;
  const h = k.slice(1).map((p, i) => p.t - k[i]!.t);
  const delta = k.slice(1).map((p, i) => (p.value - k[i]!.value) / (h[i]! || 1e-12));
  const m = new Array<number>(n).fill(0);
  m[0] = delta[0]!;
  m[n - 1] = delta[n - 2]!;
  for (let i = 1; i < n - 1; i++) m[i] = delta[i - 1]! * delta[i]! <= 0 ? 0 : (delta[i - 1]! + delta[i]!) / 2;
  for (let i = 0; i < n - 1; i++) {
    if (delta[i] === 0) {
      m[i] = 0;
      m[i + 1] = 0;
      continue;
    }
    const a = m[i]! / delta[i]!;
    const b = m[i + 1]! / delta[i]!;
    const s = a * a + b * b;
    if (s > 9) {
      const tau = 3 / Math.sqrt(s);
      m[i] = tau * a * delta[i]!;
      m[i + 1] = tau * b * delta[i]!;
    }
  }
  return (t: number) => {
    if (t <= k[0]!.t) return k[0]!.value;
    if (t >= k[n - 1]!.t) return k[n - 1]!.value;
    let i = 0;
    while (t > k[i + 1]!.t) i++;
    const dt = h[i]!;
    const u = (t - k[i]!.t) / dt;
    const u2 = u * u;
    const u3 = u2 * u;
    return (
      (2 * u3 - 3 * u2 + 1) * k[i]!.value +
      (u3 - 2 * u2 + u) * dt * m[i]! +
      (-2 * u3 + 3 * u2) * k[i + 1]!.value +
      (u3 - u2) * dt * m[i + 1]!
    );
  };
}
