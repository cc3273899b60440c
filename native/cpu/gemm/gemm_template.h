// The fp32 GEMM kernels, written once and instantiated per ISA level.
//
// Include this file from exactly one .cc per level, after defining
//   TF_GEMM_TARGET  the function attribute of the level (empty for scalar), e.g.
//                   __attribute__((target("avx2,fma")))
// and a vector-traits struct V with (all static, inline, compiled for that level):
//   using reg;  static constexpr int W;            lanes of one register
//   zero(), load(p), store(p, v), bcast(p) (*p in every lane), set1(x),
//   fma(a, b, c) = a * b + c (one rounding), mul(a, b), hsum(v) (a fixed reduction tree),
//   fmas(a, b, c) = the scalar fma with the same rounding as fma(),
//   TW and transpose_block(src, lds, dst, ldd): a TW x TW transpose (rows src + i * lds to rows
//   dst + i * ldd) used by the packing routines; TW = 0 when the level has none.
// then call make_sgemm_kernel<V, MR, NV, PROBE_CHAINS>(name, mc, kc, nc) to get the level's SgemmKernel
// table (micro-tile MR x NR with NR = NV * W; PROBE_CHAINS accumulators in the FMA peak probe).
//
// Everything here is in an anonymous namespace: each ISA file gets its own copy, so code compiled for one
// level can never be picked by the linker for another (the hazard of shared inline functions across
// differently-targeted files). No include guard, on purpose.
//
// Summation order. Every element of C is computed by exactly one code path chosen from the shape alone:
//  - blocked path: for each KC block in order, a chain of FMAs over k inside the micro-kernel, then
//    C = alpha * acc + beta' * C (beta' = beta for the first block, 1 after). Partial tiles run the same
//    micro-kernel on a scratch tile, so their arithmetic is the same as full tiles;
//  - small-M "stream" path (op(B) rows contiguous): a chain of FMAs over k per element (vector lanes and
//    scalar tail columns round the same way);
//  - small-M "dot" path (op(B) columns contiguous): W lane-wise chains over k, hsum, then the k tail;
//  - few-row path over a prepacked B (up to kSgemmSmallM rows): one chain of FMAs over the whole k per
//    element (KC blocks continue the same chain; for 2-3 rows each KC block in two interleaved halves),
//    then the epilogue once;
// none of which depends on how columns or rows are split among threads, so 1 and N threads agree bitwise.
#ifndef TF_GEMM_TARGET
#error "define TF_GEMM_TARGET (and the vector traits) before including gemm_template.h"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "gemm_kernel.h"

namespace tf {
namespace {

#if defined(__GNUC__) || defined(__clang__)
#define TF_GEMM_UNROLL _Pragma("GCC unroll 32")
#define TF_GEMM_UNROLL4 _Pragma("GCC unroll 4")
#define TF_GEMM_ALWAYS_INLINE __attribute__((always_inline)) inline
#define TF_GEMM_RESTRICT __restrict__
#define TF_GEMM_PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
#define TF_GEMM_PREFETCH_L2(p) __builtin_prefetch((p), 0, 2)
#define TF_GEMM_PREFETCH_R(p) __builtin_prefetch((p), 0, 3)
#else
#define TF_GEMM_PREFETCH_R(p) ((void)(p))
#define TF_GEMM_PREFETCH_W(p) ((void)(p))
#define TF_GEMM_PREFETCH_L2(p) ((void)(p))
#define TF_GEMM_UNROLL
#define TF_GEMM_UNROLL4
#define TF_GEMM_ALWAYS_INLINE inline
#define TF_GEMM_RESTRICT
#endif

// ---- blocked path ---------------------------------------------------------------------------------

// The register-tile micro-kernel: C[0:MR, 0:NV*W] = alpha * sum_k a[k][0:MR] x b[k][0:NV*W] + beta * C,
// over packed panels (a: MR floats per k, b: BS floats per k, of which the first NV vectors are used).
// MR x NV registers of accumulators stay live for the whole k loop; each k step loads NV vectors of B and
// broadcasts MR values of A. Every element gets the same chain of FMAs and the same epilogue whatever NV
// is, so a narrower instantiation on an edge panel gives bitwise the same values as the full one.
// AS: floats of A per k step (the packed panel's row count; more than MR when only the first MR rows of a
// partial panel are computed, which gives those rows the same values as the full-height kernel).
template <class V, int MR, int NV, int BS = NV * V::W, int AS = MR>
TF_GEMM_TARGET TF_GEMM_ALWAYS_INLINE void sgemm_ukernel(int64_t k, const float* TF_GEMM_RESTRICT a,
                                                        const float* TF_GEMM_RESTRICT b, float* c, int64_t ldc,
                                                        float alpha, float beta) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int NR = NV * W;
  R acc[MR][NV];
  TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) {
    TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  }
  // C is strided: start its lines on their way while the k loop runs.
  TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) {
    TF_GEMM_PREFETCH_W(c + i * ldc);
    TF_GEMM_PREFETCH_W(c + i * ldc + NR - 1);
  }
  TF_GEMM_UNROLL4 for (int64_t p = 0; p < k; ++p) {
    R bv[NV];
    TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
    TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) {
      const R av = V::bcast(a + i);
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
    a += AS;
    b += BS;
  }
  const R va = V::set1(alpha);
  if (beta == 0.0f) {
    TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) {
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) V::store(c + i * ldc + j * W, V::mul(va, acc[i][j]));
    }
  } else {
    const R vb = V::set1(beta);
    TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) {
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) {
        float* cp = c + i * ldc + j * W;
        V::store(cp, V::fma(vb, V::load(cp), V::mul(va, acc[i][j])));
      }
    }
  }
}

// An edge tile (mm < MR rows and/or nn < NR columns) into `tile` (row stride NR): the narrowest
// instantiation that covers it, R = mm rows of the MR-row panel (same values as the full tile, less work:
// a 1-row product through a 4-row kernel would do 4 times the FMAs).
template <class V, int MR, int NV, int R = MR>
TF_GEMM_TARGET void sgemm_edge(int64_t mm, int64_t nn, int64_t k, const float* apanel, const float* bpanel, float* tile,
                               float alpha, float beta) {
  constexpr int NR = NV * V::W;
  if constexpr (R > 1) {
    if (mm < R) return sgemm_edge<V, MR, NV, R - 1>(mm, nn, k, apanel, bpanel, tile, alpha, beta);
  }
  if (NV > 1 && nn <= V::W) sgemm_ukernel<V, R, 1, NR, MR>(k, apanel, bpanel, tile, NR, alpha, beta);
  else if (NV > 2 && nn <= 2 * V::W) sgemm_ukernel<V, R, (NV > 2 ? 2 : NV), NR, MR>(k, apanel, bpanel, tile, NR, alpha, beta);
  else sgemm_ukernel<V, R, NV, NR, MR>(k, apanel, bpanel, tile, NR, alpha, beta);
}

// C[0:m, 0:n] over packed panels: B micro-panels outer (each stays in L1 across the row loop), A
// micro-panels inner (the packed A block stays in L2). Edge tiles go through a scratch tile.
template <class V, int MR, int NV>
TF_GEMM_TARGET void sgemm_macro(int64_t m, int64_t n, int64_t k, const float* ap, const float* bp, float* c,
                                int64_t ldc, float alpha, float beta) {
  constexpr int NR = NV * V::W;
  alignas(64) float tile[MR * NR] = {};
  // While the row loop works on one B micro-panel, the next one is fetched into L2 a slice per tile
  // (the B block lives in L3; a demand miss at the start of each panel would stall the first tiles).
  // Not with a single row tile (a few-row product streaming a prepacked B from memory): there the whole
  // panel would be asked for at once, which measured slower than the hardware prefetcher alone.
  const int64_t panel_lines = NR * k / 16;
  const int64_t row_tiles = (m + MR - 1) / MR;
  const int64_t lines_per_tile = (panel_lines + row_tiles - 1) / row_tiles;
  for (int64_t j = 0; j < n; j += NR) {
    const int64_t nn = std::min<int64_t>(NR, n - j);
    const float* bpanel = bp + j * k;
    const float* bnext = j + NR < n ? bpanel + NR * k : nullptr;
    for (int64_t i = 0, t = 0; i < m; i += MR, ++t) {
      const int64_t mm = std::min<int64_t>(MR, m - i);
      const float* apanel = ap + i * k;
      float* ct = c + i * ldc + j;
      if (bnext && row_tiles > 1) {
        const int64_t l0 = t * lines_per_tile, l1 = std::min(panel_lines, l0 + lines_per_tile);
        for (int64_t l = l0; l < l1; ++l) TF_GEMM_PREFETCH_L2(bnext + l * 16);
      }
      if (mm == MR && nn == NR) {
        sgemm_ukernel<V, MR, NV>(k, apanel, bpanel, ct, ldc, alpha, beta);
      } else if (NV > 1 && mm == MR && nn == V::W) {
        sgemm_ukernel<V, MR, 1, NR>(k, apanel, bpanel, ct, ldc, alpha, beta);  // one-vector edge panel
      } else if (NV > 2 && mm == MR && nn == 2 * V::W) {
        // two-vector edge panel (e.g. N = 1024 or 4096 with NR = 24), also straight into C
        sgemm_ukernel<V, MR, (NV > 2 ? 2 : NV), NR>(k, apanel, bpanel, ct, ldc, alpha, beta);
      } else {
        if (beta != 0.0f)
          for (int64_t r = 0; r < mm; ++r) std::memcpy(tile + r * NR, ct + r * ldc, sizeof(float) * nn);
        sgemm_edge<V, MR, NV>(mm, nn, k, apanel, bpanel, tile, alpha, beta);
        for (int64_t r = 0; r < mm; ++r) std::memcpy(ct + r * ldc, tile + r * NR, sizeof(float) * nn);
      }
    }
  }
}

// Whether the level's traits have pack_a4(rows, p, out): out[kk * 4 + i] = rows[i][p + kk] for kk < 8, i < 4
// (a 4 x 8 register transpose; then a 4-row panel of contiguous rows packs 32 floats in a few instructions).
template <class V, class = void>
struct HasPackA4 : std::false_type {};
template <class V>
struct HasPackA4<V, std::void_t<decltype(&V::pack_a4)>> : std::true_type {};

// Packs op(A)[0:m, 0:k] into MR-row panels (k-major inside a panel), zero-padding the last panel.
template <class V, int MR>
TF_GEMM_TARGET void sgemm_pack_a(int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, float* out) {
  if (rsa == 1) {
    // A transposed (stored K x M): rows of the stored matrix are contiguous along i. Chunks of 16 k: the
    // 16 stored rows stay in L1 while each panel receives one contiguous 16 x MR piece (row-at-a-time
    // scattering would hit every panel at a 4 KiB-multiple stride, all in the same L1 sets).
    for (int64_t p0 = 0; p0 < k; p0 += 16) {
      const int64_t p1 = std::min<int64_t>(k, p0 + 16);
      for (int64_t i0 = 0; i0 < m; i0 += MR) {
        const int64_t mm = std::min<int64_t>(MR, m - i0);
        float* dst = out + i0 * k;
        if (mm == MR) {
          for (int64_t p = p0; p < p1; ++p) {
            TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) dst[p * MR + i] = a[p * csa + i0 + i];
          }
        } else {
          for (int64_t p = p0; p < p1; ++p)
            for (int64_t i = 0; i < MR; ++i) dst[p * MR + i] = i < mm ? a[p * csa + i0 + i] : 0.0f;
        }
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < m; i0 += MR, out += MR * k) {
    const int64_t mm = std::min<int64_t>(MR, m - i0);
    const float* src = a + i0 * rsa;
    if (mm == MR && csa == 1) {
      // rows contiguous along k: an MR-way interleave
      const float* rows[MR];
      TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) rows[i] = src + i * rsa;
      int64_t p = 0;
      if constexpr (MR == 4 && HasPackA4<V>::value) {
        // (the next panel's rows are fetched meanwhile: MR more streams, so the source, read from L3 or
        // memory, arrives at its bandwidth rather than at the latency of four streams)
        const bool ahead = i0 + 2 * MR <= m;
        for (; p + 8 <= k; p += 8) {
          if (ahead) {
            TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) TF_GEMM_PREFETCH_R(rows[i] + MR * rsa + p);
          }
          V::pack_a4(rows, p, out + p * MR);
        }
      }
      for (; p < k; ++p) {
        TF_GEMM_UNROLL for (int i = 0; i < MR; ++i) out[p * MR + i] = rows[i][p];
      }
    } else {
      for (int64_t p = 0; p < k; ++p) {
        for (int64_t i = 0; i < MR; ++i) out[p * MR + i] = i < mm ? src[i * rsa + p * csa] : 0.0f;
      }
    }
  }
}

// Packs op(B)[0:k, 0:n] into NR-column panels (k-major inside a panel), zero-padding the last panel.
template <class V, int NR>
TF_GEMM_TARGET void sgemm_pack_b(int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, float* out) {
  constexpr int W = V::W;
  constexpr int NV = NR / W;
  if (csb == 1) {
    // B rows contiguous along j: chunks of 16 k, each panel receiving one contiguous 16 x NR piece (see
    // sgemm_pack_a for why not a row at a time).
    for (int64_t p0 = 0; p0 < k; p0 += 16) {
      const int64_t p1 = std::min<int64_t>(k, p0 + 16);
      for (int64_t j0 = 0; j0 < n; j0 += NR) {
        const int64_t nn = std::min<int64_t>(NR, n - j0);
        float* dst = out + j0 * k;
        if (nn == NR) {
          for (int64_t p = p0; p < p1; ++p) {
            if (p + 16 < k) {  // the same columns of the next chunk's rows (16 streams at once)
              TF_GEMM_PREFETCH_R(b + (p + 16) * rsb + j0);
              TF_GEMM_PREFETCH_R(b + (p + 16) * rsb + j0 + NR - 1);
            }
            TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) V::store(dst + p * NR + j * W, V::load(b + p * rsb + j0 + j * W));
          }
        } else {
          for (int64_t p = p0; p < p1; ++p)
            for (int64_t j = 0; j < NR; ++j) dst[p * NR + j] = j < nn ? b[p * rsb + j0 + j] : 0.0f;
        }
      }
    }
    return;
  }
  for (int64_t j0 = 0; j0 < n; j0 += NR, out += NR * k) {
    const int64_t nn = std::min<int64_t>(NR, n - j0);
    const float* src = b + j0 * csb;
    if (nn == NR && rsb == 1) {
      // B transposed (e.g. a [out, in] weight): each panel column is a contiguous row of B.
      int64_t p = 0;
      if constexpr (V::TW > 0 && NR % V::TW == 0) {
        // TW x TW blocks through registers (the level's transpose)
        // (two blocks along k per visit of a row: whole 64-byte lines, since rows of B a power-of-two
        // apart share L1 sets and would otherwise be fetched twice). Each group of TW rows runs along the
        // whole depth before the next: TW streams from memory at a time rather than NR (3-8% faster for
        // the skinny path reading a 4096 x 4096 weight from memory, the blocked path unchanged, 1 thread,
        // CPU time).
        constexpr int TW = V::TW;
        const int64_t k2 = k / (2 * TW) * (2 * TW);
        TF_GEMM_UNROLL for (int j = 0; j < NR; j += TW) {
          for (int64_t q = 0; q < k2; q += 2 * TW) {
            V::transpose_block(src + j * csb + q, csb, out + q * NR + j, NR);
            V::transpose_block(src + j * csb + q + TW, csb, out + (q + TW) * NR + j, NR);
          }
        }
        p = k2;
        for (; p + TW <= k; p += TW) {
          TF_GEMM_UNROLL for (int j = 0; j < NR; j += TW) V::transpose_block(src + j * csb + p, csb, out + p * NR + j, NR);
        }
      }
      // Four k at a time keeps the stores in a few lines of the (L1-resident) panel.
      for (; p + 4 <= k; p += 4) {
        TF_GEMM_UNROLL for (int j = 0; j < NR; ++j) {
          const float* s = src + j * csb + p;
          out[(p + 0) * NR + j] = s[0];
          out[(p + 1) * NR + j] = s[1];
          out[(p + 2) * NR + j] = s[2];
          out[(p + 3) * NR + j] = s[3];
        }
      }
      for (; p < k; ++p) {
        TF_GEMM_UNROLL for (int j = 0; j < NR; ++j) out[p * NR + j] = src[j * csb + p];
      }
    } else {
      for (int64_t p = 0; p < k; ++p) {
        for (int64_t j = 0; j < NR; ++j) out[p * NR + j] = j < nn ? src[p * rsb + j * csb] : 0.0f;
      }
    }
  }
}

// ---- small-M path (GEMV-like: op(B) is streamed once) ----------------------------------------------

// Stores one result: alpha * acc + beta * c (c not read when beta == 0), the same rounding as the
// blocked path's epilogue.
template <class V>
TF_GEMM_TARGET TF_GEMM_ALWAYS_INLINE void sgemm_store1(float* c, float acc, float alpha, float beta) {
  const float r = alpha * acc;
  *c = beta == 0.0f ? r : V::fmas(beta, *c, r);
}

// op(B) rows contiguous (B not transposed): for a block of columns, the partial sums of MT rows live in
// a scratch block and each group of four k streams a contiguous piece of four rows of B.
template <class V, int MT>
TF_GEMM_TARGET void sgemm_small_stream(int64_t n0, int64_t n1, int64_t k, const float* a, int64_t lda,
                                       const float* b, int64_t rsb, float* c, int64_t rsc, int64_t csc,
                                       float alpha, float beta, float* scratch) {
  using R = typename V::reg;
  constexpr int W = V::W;
  // Columns per block: the MT x NB partial sums fill the 64 KiB scratch (L2); long blocks keep each row
  // of B a long sequential read, which is what the prefetchers and DRAM like.
  constexpr int64_t NB = kSgemmSmallScratch / MT / 64 * 64;
  float(*acc)[NB] = reinterpret_cast<float(*)[NB]>(scratch);
  for (int64_t j0 = n0; j0 < n1; j0 += NB) {
    const int64_t nb = std::min<int64_t>(NB, n1 - j0);
    const int64_t nv = nb / W * W;
    for (int i = 0; i < MT; ++i) std::memset(acc[i], 0, sizeof(float) * nb);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
      const float* b0 = b + p * rsb + j0;
      const float* b1 = b0 + rsb;
      const float* b2 = b1 + rsb;
      const float* b3 = b2 + rsb;
      R av[MT][4];
      TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
        TF_GEMM_UNROLL for (int q = 0; q < 4; ++q) av[i][q] = V::bcast(a + i * lda + p + q);
      }
      for (int64_t j = 0; j < nv; j += W) {
        const R x0 = V::load(b0 + j), x1 = V::load(b1 + j), x2 = V::load(b2 + j), x3 = V::load(b3 + j);
        TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
          R t = V::load(acc[i] + j);
          t = V::fma(av[i][0], x0, t);
          t = V::fma(av[i][1], x1, t);
          t = V::fma(av[i][2], x2, t);
          t = V::fma(av[i][3], x3, t);
          V::store(acc[i] + j, t);
        }
      }
      for (int64_t j = nv; j < nb; ++j) {
        TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
          const float* ai = a + i * lda + p;
          float t = acc[i][j];
          t = V::fmas(ai[0], b0[j], t);
          t = V::fmas(ai[1], b1[j], t);
          t = V::fmas(ai[2], b2[j], t);
          t = V::fmas(ai[3], b3[j], t);
          acc[i][j] = t;
        }
      }
    }
    for (; p < k; ++p) {
      const float* b0 = b + p * rsb + j0;
      R av[MT];
      TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) av[i] = V::bcast(a + i * lda + p);
      for (int64_t j = 0; j < nv; j += W) {
        const R x0 = V::load(b0 + j);
        TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) V::store(acc[i] + j, V::fma(av[i], x0, V::load(acc[i] + j)));
      }
      for (int64_t j = nv; j < nb; ++j) {
        TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) acc[i][j] = V::fmas(a[i * lda + p], b0[j], acc[i][j]);
      }
    }
    for (int i = 0; i < MT; ++i) {
      float* ci = c + i * rsc + j0 * csc;
      for (int64_t j = 0; j < nb; ++j) sgemm_store1<V>(ci + j * csc, acc[i][j], alpha, beta);
    }
  }
}

// One MT x NG block of dot products: rows of A (contiguous in k) against NG columns of op(B) (each
// contiguous in k). Each element has its own chain of W-lane FMAs, so the result does not depend on MT
// or NG.
template <class V, int MT, int NG, bool PF = false>
TF_GEMM_TARGET TF_GEMM_ALWAYS_INLINE void sgemm_dot_block(int64_t k, const float* a, int64_t lda,
                                                          const float* const* cols, float* c, int64_t rsc,
                                                          const int64_t* coff, float alpha, float beta,
                                                          int64_t pf_off = 0) {
  using R = typename V::reg;
  constexpr int W = V::W;
  R acc[MT][NG];
  TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
    TF_GEMM_UNROLL for (int g = 0; g < NG; ++g) acc[i][g] = V::zero();
  }
  int64_t p = 0;
  for (; p + W <= k; p += W) {
    if constexpr (PF) {
      // the next group's columns (pf_off floats on), one 64-byte line each per 16 depths
      if ((p & 15) == 0) {
        TF_GEMM_UNROLL for (int g = 0; g < NG; ++g) TF_GEMM_PREFETCH_L2(cols[g] + pf_off + p);
      }
    }
    R av[MT];
    TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) av[i] = V::load(a + i * lda + p);
    TF_GEMM_UNROLL for (int g = 0; g < NG; ++g) {
      const R bv = V::load(cols[g] + p);
      TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) acc[i][g] = V::fma(av[i], bv, acc[i][g]);
    }
  }
  TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
    TF_GEMM_UNROLL for (int g = 0; g < NG; ++g) {
      float s = V::hsum(acc[i][g]);
      for (int64_t q = p; q < k; ++q) s = V::fmas(a[i * lda + q], cols[g][q], s);
      sgemm_store1<V>(c + i * rsc + coff[g], s, alpha, beta);
    }
  }
}

// Rows [0, m) of A against the NG columns `cols`: chunks of MT rows, then one smaller chunk (same NG).
template <class V, int MT, int NG>
TF_GEMM_TARGET TF_GEMM_ALWAYS_INLINE void sgemm_dot_rows(int64_t m, int64_t k, const float* a, int64_t lda,
                                                         const float* const* cols, float* c, int64_t rsc,
                                                         const int64_t* coff, float alpha, float beta,
                                                         int64_t pf_off = 0) {
  int64_t i = 0;
  if (pf_off != 0 && m > MT) {
    // Several row tiles: the last full one (from cache: an earlier tile brought the columns in) prefetches
    // the next group's columns, so that memory streams while this group computes (no change to any sum).
    for (; i + 2 * MT <= m; i += MT)
      sgemm_dot_block<V, MT, NG>(k, a + i * lda, lda, cols, c + i * rsc, rsc, coff, alpha, beta);
    sgemm_dot_block<V, MT, NG, true>(k, a + i * lda, lda, cols, c + i * rsc, rsc, coff, alpha, beta, pf_off);
    i += MT;
  }
  for (; i + MT <= m; i += MT) sgemm_dot_block<V, MT, NG>(k, a + i * lda, lda, cols, c + i * rsc, rsc, coff, alpha, beta);
  const int64_t r = m - i;
  a += i * lda;
  c += i * rsc;
  if constexpr (MT > 3) {
    if (r == 3) return sgemm_dot_block<V, 3, NG>(k, a, lda, cols, c, rsc, coff, alpha, beta);
  }
  if constexpr (MT > 2) {
    if (r == 2) return sgemm_dot_block<V, 2, NG>(k, a, lda, cols, c, rsc, coff, alpha, beta);
  }
  if constexpr (MT > 1) {
    if (r == 1) return sgemm_dot_block<V, 1, NG>(k, a, lda, cols, c, rsc, coff, alpha, beta);
  }
}

// op(B) columns contiguous (B transposed, e.g. a [out, in] weight): dot products, NG columns at a time,
// every row of A against them while they are in cache (so the weight is read from memory once).
template <class V, int MT, int NG>
TF_GEMM_TARGET void sgemm_small_dot(int64_t m, int64_t n0, int64_t n1, int64_t k, const float* a, int64_t lda,
                                    const float* b, int64_t csb, float* c, int64_t rsc, int64_t csc, float alpha,
                                    float beta) {
  int64_t j = n0;
  for (; j + NG <= n1; j += NG) {
    const float* cols[NG];
    int64_t coff[NG];
    TF_GEMM_UNROLL for (int g = 0; g < NG; ++g) {
      cols[g] = b + (j + g) * csb;
      coff[g] = (j + g) * csc;
    }
    sgemm_dot_rows<V, MT, NG>(m, k, a, lda, cols, c, rsc, coff, alpha, beta, j + 2 * NG <= n1 ? NG * csb : 0);
  }
  for (; j < n1; ++j) {
    const float* cols[1] = {b + j * csb};
    const int64_t coff[1] = {j * csc};
    sgemm_dot_rows<V, MT, 1>(m, k, a, lda, cols, c, rsc, coff, alpha, beta);
  }
}

template <class V>
TF_GEMM_TARGET void sgemm_small_m(int64_t m, int64_t n0, int64_t n1, int64_t k, const float* a, int64_t lda,
                                  const float* b, int64_t rsb, int64_t csb, float* c, int64_t rsc, int64_t csc,
                                  float alpha, float beta, float* scratch) {
  static_assert(kSgemmSmallM <= 8, "the stream path has row tiles up to 8");
  if (csb == 1) {
    switch (m) {
      case 1: return sgemm_small_stream<V, 1>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      case 2: return sgemm_small_stream<V, 2>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      case 3: return sgemm_small_stream<V, 3>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      case 4: return sgemm_small_stream<V, 4>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      case 5: return sgemm_small_stream<V, 5>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      case 6: return sgemm_small_stream<V, 6>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      case 7: return sgemm_small_stream<V, 7>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
      default: return sgemm_small_stream<V, 8>(n0, n1, k, a, lda, b, rsb, c, rsc, csc, alpha, beta, scratch);
    }
  }
  // rsb == 1. Tiles keep 8-12 chains in flight (enough to cover the FMA latency on two ports).
  switch (m) {
    case 1: return sgemm_small_dot<V, 1, 8>(m, n0, n1, k, a, lda, b, csb, c, rsc, csc, alpha, beta);
    case 2: return sgemm_small_dot<V, 2, 4>(m, n0, n1, k, a, lda, b, csb, c, rsc, csc, alpha, beta);
    case 3: return sgemm_small_dot<V, 3, 4>(m, n0, n1, k, a, lda, b, csb, c, rsc, csc, alpha, beta);
    default: return sgemm_small_dot<V, 4, 3>(m, n0, n1, k, a, lda, b, csb, c, rsc, csc, alpha, beta);
  }
}

// ---- few-row path over a prepacked B (decode through a packed weight) -------------------------------

// One depth p of sgemm_few_block: P panels x NV vectors of B, MT rows of A.
template <class V, int NV, int MT, int P>
TF_GEMM_TARGET TF_GEMM_ALWAYS_INLINE void sgemm_few_step(typename V::reg (&acc)[MT][P][NV], const float* TF_GEMM_RESTRICT a,
                                                         int64_t lda, const float* TF_GEMM_RESTRICT b, int64_t bstride,
                                                         int64_t p) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int NR = NV * W;
  if constexpr (MT <= 2) {
    // the MT broadcasts first, then one B vector at a time: MT * P * NV + MT + 1 registers (15 for 2 x 2 x 3:
    // loading all of a panel's B vectors first would spill an accumulator, whose chain then runs through
    // memory at a multiple of the FMA latency)
    R av[MT];
    TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) av[i] = V::bcast(a + i * lda + p);
    TF_GEMM_UNROLL for (int q = 0; q < P; ++q) {
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) {
        const R bv = V::load(b + q * bstride + p * NR + j * W);
        TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) acc[i][q][j] = V::fma(av[i], bv, acc[i][q][j]);
      }
    }
  } else {
    // the micro-kernel's order: NV B vectors, then one broadcast at a time (MT * P * NV + NV + 1 registers)
    TF_GEMM_UNROLL for (int q = 0; q < P; ++q) {
      R bv[NV];
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) bv[j] = V::load(b + q * bstride + p * NR + j * W);
      TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
        const R av = V::bcast(a + i * lda + p);
        TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) acc[i][q][j] = V::fma(av, bv[j], acc[i][q][j]);
      }
    }
  }
}

// One KC block of MT rows against P panels of one column block: the MT x P x NR partial sums continue from
// st (zero when `first`) through one FMA chain per element over the block's kc depths, and go back to st
// (an exact round trip, so splitting the depth in blocks does not change the chain). The P panels are P
// streams of the packed block (bstride = NR * kc apart): more loads in flight than one panel at a time,
// and for one row P x NV independent chains instead of NV. H = 2 reads the block as two halves at once
// (two streams per panel), depths p and kc/2 + p in turn in the same chain (then the odd last depth): a
// fixed order that depends on kc only.
template <class V, int NV, int MT, int P, int H = 1>
TF_GEMM_TARGET TF_GEMM_ALWAYS_INLINE void sgemm_few_block(int64_t kc, const float* TF_GEMM_RESTRICT a, int64_t lda,
                                                          const float* TF_GEMM_RESTRICT b, int64_t bstride,
                                                          float* TF_GEMM_RESTRICT st, bool first) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int NR = NV * W;
  R acc[MT][P][NV];
  TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
    TF_GEMM_UNROLL for (int q = 0; q < P; ++q) {
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) acc[i][q][j] = first ? V::zero() : V::load(st + (i * P + q) * NR + j * W);
    }
  }
  if constexpr (H > 1) {
    const int64_t len = kc / H;
    TF_GEMM_UNROLL4 for (int64_t p = 0; p < len; ++p) {
      TF_GEMM_UNROLL for (int h = 0; h < H; ++h) sgemm_few_step<V, NV, MT, P>(acc, a, lda, b, bstride, p + h * len);
    }
    for (int64_t p = H * len; p < kc; ++p) sgemm_few_step<V, NV, MT, P>(acc, a, lda, b, bstride, p);
  } else {
    TF_GEMM_UNROLL4 for (int64_t p = 0; p < kc; ++p) sgemm_few_step<V, NV, MT, P>(acc, a, lda, b, bstride, p);
  }
  TF_GEMM_UNROLL for (int i = 0; i < MT; ++i) {
    TF_GEMM_UNROLL for (int q = 0; q < P; ++q) {
      TF_GEMM_UNROLL for (int j = 0; j < NV; ++j) V::store(st + (i * P + q) * NR + j * W, acc[i][q][j]);
    }
  }
}

// P panels (local index p0.. of the column block at cb with npan panels; nn columns in all from the first
// one's column 0, at c) over the whole depth, rows in groups of MT (then the remainder), then the epilogue.
template <class V, int NV, int MT, int P, int H = 1>
TF_GEMM_TARGET void sgemm_few_panels(int64_t m, int64_t p0, int64_t npan, int64_t nn, int64_t k, int64_t KC,
                                     const float* a, int64_t lda, const float* cb, float* c, int64_t ldc, float alpha,
                                     float beta) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int NR = NV * W;
  alignas(64) float st[kSgemmSmallM * P * NR];
  // With several row groups, the depths of a KC block go in slices of 64 so that the P panels' slice stays
  // in L1 for every group (the slicing does not change the chains: st carries them exactly). Not with
  // halves (H > 1), whose split point would move.
  const int64_t slice = m > MT && H == 1 ? 64 : KC;
  for (int64_t pc = 0; pc < k; pc += KC) {
    const int64_t kc = std::min(KC, k - pc);
    const float* blk = cb + pc * npan * NR + p0 * NR * kc;
    for (int64_t s0 = 0; s0 < kc; s0 += slice) {
      const int64_t ks = std::min(slice, kc - s0);
      const bool first = pc == 0 && s0 == 0;
      const float* bs = blk + s0 * NR;
      int64_t i = 0;
      for (; i + MT <= m; i += MT)
        sgemm_few_block<V, NV, MT, P, H>(ks, a + i * lda + pc + s0, lda, bs, NR * kc, st + i * P * NR, first);
      const int64_t r = m - i;
      const float* ai = a + i * lda + pc + s0;
      float* si = st + i * P * NR;
      if constexpr (MT > 3) {
        if (r == 3) sgemm_few_block<V, NV, 3, P, H>(ks, ai, lda, bs, NR * kc, si, first);
      }
      if constexpr (MT > 2) {
        if (r == 2) sgemm_few_block<V, NV, 2, P, H>(ks, ai, lda, bs, NR * kc, si, first);
      }
      if constexpr (MT > 1) {
        if (r == 1) sgemm_few_block<V, NV, 1, P, H>(ks, ai, lda, bs, NR * kc, si, first);
      }
    }
  }
  // C = alpha * acc + beta * C, the rounding of the micro-kernel's epilogue; st row i holds P * NR columns
  const int64_t nv = nn / W * W;
  const R va = V::set1(alpha), vb = V::set1(beta);
  for (int64_t i = 0; i < m; ++i) {
    const float* s = st + i * P * NR;
    float* ci = c + i * ldc;
    int64_t j = 0;
    if (beta == 0.0f) {
      for (; j < nv; j += W) V::store(ci + j, V::mul(va, V::load(s + j)));
    } else {
      for (; j < nv; j += W) V::store(ci + j, V::fma(vb, V::load(ci + j), V::mul(va, V::load(s + j))));
    }
    for (; j < nn; ++j) sgemm_store1<V>(ci + j, s[j], alpha, beta);
  }
}

// The few-row path's entry (SgemmKernel::packed_few), per row count (chosen by measuring on the AVX2 build machine,
// 1 thread, a weight in L3 and one streamed from memory; one stream of the weight at a time was the slow
// case from memory): 1 row: four panels at a time (four streams, 4 x NV chains); 2 rows: two panels, each
// KC block in two halves (four streams, 2 x 2 x NV chains); 3 rows: one panel in halves; 4-8: two panels,
// rows in pairs. The last panels of a range go in smaller groups, with the same halves: grouping never
// changes a result (see sgemm_few_block).
template <class V, int NV>
TF_GEMM_TARGET void sgemm_packed_few(int64_t m, int64_t g0, int64_t g1, int64_t n, int64_t k, int64_t KC, int64_t NC,
                                     const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, float alpha,
                                     float beta) {
  constexpr int NR = NV * V::W;
  const int64_t per_block = NC / NR;
  for (int64_t g = g0; g < g1;) {
    const int64_t jb = g / per_block, jc = jb * NC;
    const int64_t nc = std::min(NC, n - jc), npan = (nc + NR - 1) / NR;
    const int64_t p = g - jb * per_block;
    const int64_t left = std::min(g1 - g, npan - p);  // panels of this range in this column block
    const int64_t want = m == 1 ? 4 : m == 3 ? 1 : 2;
    const int64_t take = std::min(want, left) >= 4 ? 4 : std::min(want, left) >= 2 ? 2 : 1;
    const int64_t j0 = p * NR, nn = std::min(nc, (p + take) * NR) - j0;
    const float* cb = bp + jc * k;
    float* cp = c + jc + j0;
    if (m == 2) {  // halves: every group of two rows must take them (the chains' order)
      if (take == 2) sgemm_few_panels<V, NV, 2, 2, 2>(m, p, npan, nn, k, KC, a, lda, cb, cp, ldc, alpha, beta);
      else sgemm_few_panels<V, NV, 2, 1, 2>(m, p, npan, nn, k, KC, a, lda, cb, cp, ldc, alpha, beta);
    } else if (m == 3) {
      sgemm_few_panels<V, NV, 3, 1, 2>(m, p, npan, nn, k, KC, a, lda, cb, cp, ldc, alpha, beta);
    } else if (take == 4) {
      sgemm_few_panels<V, NV, 1, 4>(m, p, npan, nn, k, KC, a, lda, cb, cp, ldc, alpha, beta);
    } else if (take == 2) {
      sgemm_few_panels<V, NV, 2, 2>(m, p, npan, nn, k, KC, a, lda, cb, cp, ldc, alpha, beta);
    } else {
      sgemm_few_panels<V, NV, 4, 1>(m, p, npan, nn, k, KC, a, lda, cb, cp, ldc, alpha, beta);
    }
    g += take;
  }
}

// ---- FMA peak probe -----------------------------------------------------------------------------------

// CH independent accumulator chains of acc = acc * x + y (converges, never overflows or goes subnormal).
template <class V, int CH>
TF_GEMM_TARGET double sgemm_peak_probe(int64_t iters) {
  using R = typename V::reg;
  R acc[CH];
  TF_GEMM_UNROLL for (int i = 0; i < CH; ++i) acc[i] = V::set1(1.0f + 0.001f * static_cast<float>(i));
  const R x = V::set1(0.999f), y = V::set1(0.001f);
  for (int64_t it = 0; it < iters; ++it) {
    TF_GEMM_UNROLL for (int i = 0; i < CH; ++i) acc[i] = V::fma(acc[i], x, y);
  }
  float s = 0.0f;
  TF_GEMM_UNROLL for (int i = 0; i < CH; ++i) s += V::hsum(acc[i]);
  // s is about 1 for any iters: the comparison keeps the chains alive and adds nothing to the count
  return static_cast<double>(iters) * CH * V::W * 2.0 + (s < -1.0f ? 1.0 : 0.0);
}

// Memory read bandwidth: eight sequential streams (eighths of the buffer) at once, as the decode GEMV
// reads eight rows of a weight, so the prefetchers and the memory-level parallelism are the same.
template <class V>
TF_GEMM_TARGET float sgemm_read_probe(const float* p, int64_t n) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int S = 8;
  const int64_t q = n / S / W * W;
  R acc[S];
  TF_GEMM_UNROLL for (int t = 0; t < S; ++t) acc[t] = V::zero();
  for (int64_t i = 0; i < q; i += W) {
    TF_GEMM_UNROLL for (int t = 0; t < S; ++t) acc[t] = V::fma(V::load(p + t * q + i), V::load(p + t * q + i), acc[t]);
  }
  float s = 0.0f;
  TF_GEMM_UNROLL for (int t = 0; t < S; ++t) s += V::hsum(acc[t]);
  return s;
}

// ---- the level's table -----------------------------------------------------------------------------------

template <class V, int MR, int NV, int PROBE_CHAINS>
SgemmKernel make_sgemm_kernel(const char* name, int mc, int kc, int nc) {
  constexpr int NR = NV * V::W;
  SgemmKernel t{};
  t.name = name;
  t.mr = MR;
  t.nr = NR;
  t.mc = mc;
  t.kc = kc;
  t.nc = nc;
  t.pack_a = &sgemm_pack_a<V, MR>;
  t.pack_b = &sgemm_pack_b<V, NR>;
  t.macro = &sgemm_macro<V, MR, NV>;
  t.small_m = &sgemm_small_m<V>;
  t.packed_few = &sgemm_packed_few<V, NV>;
  t.peak_probe = &sgemm_peak_probe<V, PROBE_CHAINS>;
  t.read_probe = &sgemm_read_probe<V>;
  return t;
}

#undef TF_GEMM_UNROLL
#undef TF_GEMM_UNROLL4
#undef TF_GEMM_ALWAYS_INLINE
#undef TF_GEMM_RESTRICT
#undef TF_GEMM_PREFETCH_W
#undef TF_GEMM_PREFETCH_L2
#undef TF_GEMM_PREFETCH_R

}  // namespace
}  // namespace tf
