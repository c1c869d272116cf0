;; The two passes of Pillow's 8-bit resampling (src/images/resample.ts) in WebAssembly SIMD,
;; with the same integer arithmetic: 22-bit fixed-point weights, products summed in wrapping
;; int32 from 1 << 21, then >> 22 and clamped to 0..255 (here by the saturating narrows).
;; Compiled by `npm run build:wasm` into resample-kernels-wasm.ts.
;;
;; Every array is in linear memory; weights, first and taps are int32, pixels are bytes. The
;; kernels read up to 15 bytes past the last pixel they use and write up to 15 bytes past the
;; last one they produce (whole vectors): the caller leaves that much slack after each buffer.
(module
  (memory (export "memory") 1)

  ;; Rows of interleaved RGB -> rows of outWidth RGB pixels. Pixel j of a row sums taps[j]
  ;; input pixels from (first[j] - xStart), one i32x4 of (r, g, b, next byte) per tap.
  (func (export "horizontal")
    (param $src i32) (param $srcStride i32) (param $rows i32) (param $outWidth i32)
    (param $first i32) (param $taps i32) (param $weights i32) (param $wstride i32)
    (param $xStart i32) (param $dst i32) (param $dstStride i32)
    (local $r i32) (local $j i32) (local $rowIn i32) (local $q i32) (local $p i32)
    (local $k i32) (local $kEnd i32) (local $acc v128) (local $v v128)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $rowIn (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $srcStride))))
        (local.set $q (i32.add (local.get $dst) (i32.mul (local.get $r) (local.get $dstStride))))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $outWidth)))
            (local.set $p
              (i32.add (local.get $rowIn)
                (i32.mul
                  (i32.sub (i32.load (i32.add (local.get $first) (i32.shl (local.get $j) (i32.const 2)))) (local.get $xStart))
                  (i32.const 3))))
            (local.set $k (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $j) (local.get $wstride)) (i32.const 2))))
            (local.set $kEnd
              (i32.add (local.get $k)
                (i32.shl (i32.load (i32.add (local.get $taps) (i32.shl (local.get $j) (i32.const 2)))) (i32.const 2))))
            (local.set $acc (v128.const i32x4 2097152 2097152 2097152 2097152))
            (block $tapsDone
              (loop $tapLoop
                (br_if $tapsDone (i32.ge_u (local.get $k) (local.get $kEnd)))
                (local.set $acc
                  (i32x4.add (local.get $acc)
                    (i32x4.mul
                      (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $p))))
                      (i32x4.splat (i32.load (local.get $k))))))
                (local.set $p (i32.add (local.get $p) (i32.const 3)))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (br $tapLoop)))
            ;; Four bytes out; the fourth is overwritten by the next pixel (or is slack).
            (local.set $v (i16x8.narrow_i32x4_u
              (i32x4.shr_s (local.get $acc) (i32.const 22))
              (i32x4.shr_s (local.get $acc) (i32.const 22))))
            (i32.store (local.get $q) (i32x4.extract_lane 0 (i8x16.narrow_i16x8_u (local.get $v) (local.get $v))))
            (local.set $q (i32.add (local.get $q) (i32.const 3)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $colLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; Rows of `stride` bytes -> outHeight rows of `stride` bytes. Output row i sums taps[i]
  ;; input rows from (first[i] - yStart), sixteen bytes (four i32x4) at a time.
  (func (export "vertical")
    (param $src i32) (param $stride i32) (param $outHeight i32)
    (param $first i32) (param $taps i32) (param $weights i32) (param $wstride i32)
    (param $yStart i32) (param $dst i32)
    (local $i i32) (local $c i32) (local $base i32) (local $q i32) (local $p i32)
    (local $k0 i32) (local $k i32) (local $kEnd i32) (local $w v128) (local $v v128)
    (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $outHeight)))
        (local.set $base
          (i32.add (local.get $src)
            (i32.mul
              (i32.sub (i32.load (i32.add (local.get $first) (i32.shl (local.get $i) (i32.const 2)))) (local.get $yStart))
              (local.get $stride))))
        (local.set $k0 (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $i) (local.get $wstride)) (i32.const 2))))
        (local.set $kEnd
          (i32.add (local.get $k0)
            (i32.shl (i32.load (i32.add (local.get $taps) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 2))))
        (local.set $q (i32.add (local.get $dst) (i32.mul (local.get $i) (local.get $stride))))
        (local.set $c (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $c) (local.get $stride)))
            (local.set $a0 (v128.const i32x4 2097152 2097152 2097152 2097152))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $p (i32.add (local.get $base) (local.get $c)))
            (local.set $k (local.get $k0))
            (block $tapsDone
              (loop $tapLoop
                (br_if $tapsDone (i32.ge_u (local.get $k) (local.get $kEnd)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $w (i32x4.splat (i32.load (local.get $k))))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $p (i32.add (local.get $p) (local.get $stride)))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (br $tapLoop)))
            (v128.store (i32.add (local.get $q) (local.get $c))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_u (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_u (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $colLoop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowLoop)))))
