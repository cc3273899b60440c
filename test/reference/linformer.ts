/**
 * Float64 oracle for Linformer attention (lucidrains/linformer semantics), written for clarity:
 * K' = E[:Nk]ᵀK, V' = F[:Nk]ᵀV per (batch, key/value head), then softmax(scale·QK'ᵀ)V'. Flat arrays:
 * q [B, H, Nq, D], k and v [B, Hkv, Nk, D], projections [nMax, kp] (only the first Nk rows are read).
 */
export function linformerAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, projK: ArrayLike<number>, projV: ArrayLike<number> | null, B: number, H: number, Hkv: number, Nq: number, Nk: number, D: number, kp: number, scale = D ** -0.5): Float64Array {
  const F = projV ?? projK;
  const out = new Float64Array(B * H * Nq * D);
  const group = H / Hkv;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const ko = (b * Hkv + Math.floor(h / group)) * Nk * D;
      const qo = (b * H + h) * Nq * D;
      const Kp = new Float64Array(kp * D);
      const Vp = new Float64Array(kp * D);
      for (let p = 0; p < kp; p++)
        for (let d = 0; d < D; d++) {
          let a = 0;
          let c = 0;
          for (let n = 0; n < Nk; n++) {
            a += projK[n * kp + p] * k[ko + n * D + d];
            c += F[n * kp + p] * v[ko + n * D + d];
          }
          Kp[p * D + d] = a;
          Vp[p * D + d] = c;
        }
      for (let i = 0; i < Nq; i++) {
        const s = new Float64Array(kp);
        let mx = -Infinity;
        for (let p = 0; p < kp; p++) {
          let t = 0;
          for (let d = 0; d < D; d++) t += q[qo + i * D + d] * Kp[p * D + d];
          s[p] = t * scale;
          mx = Math.max(mx, s[p]);
        }
        let sum = 0;
        for (let p = 0; p < kp; p++) sum += (s[p] = Math.exp(s[p] - mx));
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let p = 0; p < kp; p++) acc += s[p] * Vp[p * D + d];
          out[qo + i * D + d] = acc / sum;
        }
      }
    }
  return out;
}
