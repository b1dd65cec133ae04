import Foundation

/// PIL's `Image.resize((w, h), Image.BILINEAR)` for 8-bit RGB, reproduced bit for bit.
///
/// The Python runtime resizes with PIL (`petface_edge.imaging.resize_pixels`) and the model was
/// trained on those pixels, so the app must resize the same way. This follows Pillow's
/// `src/libImaging/Resample.c`: a separable triangle filter whose support grows with the
/// downscale factor (antialiasing), weights normalized per output pixel and converted to
/// 22-bit fixed point, two passes each rounded to uint8. The pass order is Pillow 13's (the
/// version constraints.txt pins): horizontal first, except when the height shrinks by more
/// than twice as many pixels as the width does (`in.h - h > 2 * (in.w - w)`), then vertical
/// first (Pillow PR 9549; measured on 1,480 random sizes against Pillow 13.0.0). Pillow 12 and
/// older always go horizontal first; the two orders differ by at most 1/255.
public enum PILResize {
    private static let precisionBits = 32 - 8 - 2

    /// One axis of the resampling: for output index i, source pixels `start[i] ..< start[i] + count[i]`
    /// weighted by the fixed-point `weights[i * taps ..< i * taps + count[i]]`.
    struct Coefficients {
        let taps: Int
        let start: [Int]
        let count: [Int]
        let weights: [Int32]
    }

    /// `precompute_coeffs` + `normalize_coeffs_8bpc` from Resample.c with the bilinear filter (support 1).
    static func coefficients(inSize: Int, outSize: Int) -> Coefficients {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        for i in 0..<outSize {
            let center = (Double(i) + 0.5) * scale
            let ss = 1.0 / filterScale
            // C casts truncate toward zero; Int(Double) does the same.
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5)) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let w = triangle((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                total += w
            }
            // The triangle is never negative, so Resample.c's rounding is `(int)(0.5 + w * 2^22)` here.
            for x in 0..<xmax {
                weights[i * taps + x] = Int32(0.5 + (total != 0 ? k[x] / total : k[x]) * Double(1 << precisionBits))
            }
            start[i] = xmin
            count[i] = xmax  // at least 1: the support always covers the centre pixel
        }
        return Coefficients(taps: taps, start: start, count: count, weights: weights)
    }

    private static func triangle(_ x: Double) -> Double {
        let a = abs(x)
        return a < 1.0 ? 1.0 - a : 0.0
    }

    /// Rounds a fixed-point accumulator to uint8 (Resample.c `clip8`).
    @inline(__always)
    private static func clip8(_ acc: Int) -> UInt8 {
        let v = acc >> precisionBits
        return v < 0 ? 0 : (v > 255 ? 255 : UInt8(v))
    }

    /// Resizes `image` to `width` x `height` exactly as PIL does (no-op when the size already matches).
    public static func bilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0, "target size must be positive")
        var pixels = image.pixels, w = image.width, h = image.height
        // Only axes whose size changes are resampled (Pillow skips a pass that keeps the size).
        let order: [Axis] = verticalFirst(image, width: width, height: height) ? [.vertical, .horizontal]
                                                                                 : [.horizontal, .vertical]
        for axis in order {
            switch axis {
            case .horizontal where width != w:
                pixels = horizontal(pixels, sourceWidth: w, rows: h, coefficients: coefficients(inSize: w, outSize: width))
                w = width
            case .vertical where height != h:
                pixels = vertical(pixels, width: w, coefficients: coefficients(inSize: h, outSize: height), outHeight: height)
                h = height
            default:
                break
            }
        }
        return try! RGBImage(width: w, height: h, pixels: pixels)  // positive sizes, byte count by construction
    }

    /// Pillow 13's pass order: vertical first when the height shrinks by more than twice the width's shrink.
    static func verticalFirst(_ image: RGBImage, width: Int, height: Int) -> Bool {
        width != image.width && height < image.height && image.height - height > 2 * (image.width - width)
    }

    enum Axis { case horizontal, vertical }

    private static func horizontal(_ src: [UInt8], sourceWidth: Int, rows: Int,
                                   coefficients c: Coefficients) -> [UInt8] {
        let outWidth = c.start.count, taps = c.taps
        var out = [UInt8](repeating: 0, count: rows * outWidth * 3)
        let half = 1 << (precisionBits - 1)
        src.withUnsafeBufferPointer { s in
            c.weights.withUnsafeBufferPointer { k in
                out.withUnsafeMutableBufferPointer { o in
                    for y in 0..<rows {
                        let rowBase = y * sourceWidth * 3
                        for i in 0..<outWidth {
                            var acc0 = half, acc1 = half, acc2 = half
                            var p = rowBase + c.start[i] * 3
                            for t in (i * taps)..<(i * taps + c.count[i]) {
                                let w = Int(k[t])
                                acc0 += Int(s[p]) * w
                                acc1 += Int(s[p + 1]) * w
                                acc2 += Int(s[p + 2]) * w
                                p += 3
                            }
                            let q = (y * outWidth + i) * 3
                            o[q] = clip8(acc0)
                            o[q + 1] = clip8(acc1)
                            o[q + 2] = clip8(acc2)
                        }
                    }
                }
            }
        }
        return out
    }

    private static func vertical(_ src: [UInt8], width: Int, coefficients c: Coefficients, outHeight: Int) -> [UInt8] {
        let stride = width * 3, taps = c.taps
        var out = [UInt8](repeating: 0, count: outHeight * stride)
        var acc = [Int](repeating: 0, count: stride)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                acc.withUnsafeMutableBufferPointer { a in
                    // Row by row: each output row is a weighted sum of whole source rows.
                    for j in 0..<outHeight {
                        for x in 0..<stride { a[x] = 1 << (precisionBits - 1) }
                        for t in 0..<c.count[j] {
                            let w = Int(c.weights[j * taps + t])
                            let row = (c.start[j] + t) * stride
                            for x in 0..<stride { a[x] += Int(s[row + x]) * w }
                        }
                        for x in 0..<stride { o[j * stride + x] = clip8(a[x]) }
                    }
                }
            }
        }
        return out
    }
}
