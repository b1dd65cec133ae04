import XCTest
@testable import PetFaceKit

/// Resize checks that need no golden files; expected bytes were produced by Pillow 13.0.0
/// (`Image.fromarray(src).resize((w, h), Image.BILINEAR)`), the version constraints.txt pins.
final class PILResizeTests: XCTestCase {
    // A 5x3 RGB image (numpy default_rng(7) integers).
    let source: [UInt8] = [139, 74, 229, 241, 169, 65, 6, 160, 149, 106, 38, 175, 188, 205, 175, 229, 98, 249, 10, 148,
                           95, 86, 147, 198, 66, 39, 106, 213, 171, 45, 167, 57, 69, 81, 55, 14, 153, 178, 215, 76, 52,
                           39, 250, 72, 215]

    func testSmallCasesMatchPillowExactly() throws {
        let image = try RGBImage(width: 5, height: 3, pixels: source)
        let expected: [(Int, Int, [UInt8])] = [
            (2, 4, [149, 131, 141, 115, 125, 164, 118, 129, 158, 115, 116, 128, 108, 111, 134, 128, 101, 117, 124, 83,
                    78, 149, 87, 134]),
            (7, 2, [173, 83, 237, 162, 128, 145, 120, 159, 102, 36, 155, 167, 75, 71, 154, 136, 104, 139, 197, 192,
                    126, 190, 72, 137, 112, 82, 84, 75, 112, 91, 128, 166, 209, 88, 81, 105, 142, 74, 101, 236, 109,
                    151]),
            (3, 3, [183, 115, 159, 80, 135, 136, 153, 133, 175, 135, 119, 183, 65, 123, 155, 150, 114, 71, 130, 56,
                    45, 120, 123, 131, 175, 63, 140]),
        ]
        for (w, h, bytes) in expected {
            let out = PILResize.bilinear(image, width: w, height: h)
            XCTAssertEqual(out.width, w)
            XCTAssertEqual(out.height, h)
            XCTAssertEqual(out.pixels, bytes, "\(w)x\(h)")
        }
    }

    /// Both axes shrink: Pillow 13 picks the pass order, and the two orders round differently here.
    func testPassOrderFollowsPillow13() throws {
        let src: [UInt8] = [114, 104, 41, 77, 130, 82, 247, 199, 163, 92, 212, 98, 122, 202, 24, 155, 237, 103, 79, 119, 227, 135, 181, 181, 222, 196, 19, 88, 66, 30, 207, 22, 56, 63, 78, 75, 253, 127, 118, 161, 45, 7, 238, 158, 1, 105, 22, 251, 197, 165, 13, 62, 8, 72, 100, 108, 79, 29, 71, 242, 206, 114, 198, 28, 3, 159, 81, 179, 35, 243, 80, 245, 194, 204, 215, 234, 32, 43, 13, 173, 53, 28, 110, 228, 31, 57, 123, 50, 151, 44, 178, 193, 79, 19, 12, 172, 165, 57, 168, 129, 184, 80, 36, 254, 219, 253, 78, 216, 11, 215, 160, 53, 174, 192, 0, 251, 69, 142, 150, 218, 143, 174, 134, 95, 53, 209, 235, 178, 244, 164, 61, 200, 209, 177, 191, 56, 232, 60, 249, 66, 67, 51, 77, 47, 140, 163, 182, 118, 160, 162, 67, 244, 162, 172, 234, 99, 239, 233, 38, 87, 76, 94, 64, 236, 217, 58, 255, 112, 36, 12, 188, 15, 55, 87, 245, 167, 133, 183, 193, 195, 36, 160, 183, 112, 95, 148, 25, 242, 163, 85, 17, 0, 164, 109, 235, 221, 243, 32, 160, 66, 71, 10, 198, 204, 229, 108, 228, 120, 105, 162, 37, 166, 30, 125, 226, 194, 173, 110, 207, 229, 157, 34, 60, 155, 159, 157, 29, 163, 237, 66, 33, 110, 39, 48, 217, 13, 203, 61, 231, 48, 165, 6, 205, 29, 157, 47, 223, 200, 157, 1, 10, 28, 17, 83, 231, 47, 122, 99, 232, 57, 178, 149, 73, 185, 56, 48, 224, 79, 209, 36, 86, 127, 84, 122, 63, 174, 135, 124, 93, 141, 214, 17, 192, 123, 211, 35, 77, 98, 16, 176, 6, 241, 75, 55, 247, 51, 176, 5, 60, 203, 212, 225, 116, 43, 166, 86, 114, 122, 237, 143, 56, 164, 246, 153, 103, 74, 213, 217, 176, 70, 146, 56, 137, 43]
        let image = try RGBImage(width: 9, height: 12, pixels: src)
        // 12 - 4 > 2 * (9 - 6): vertical first. 12 - 8 <= 2 * (9 - 4): horizontal first.
        XCTAssertTrue(PILResize.verticalFirst(image, width: 6, height: 4))
        XCTAssertFalse(PILResize.verticalFirst(image, width: 4, height: 8))
        XCTAssertEqual(PILResize.bilinear(image, width: 6, height: 4).pixels,
                       [97, 82, 88, 132, 106, 121, 136, 122, 92, 168, 132, 97, 149, 127, 161, 135, 121, 78, 59, 162, 149, 71,
                        138, 114, 112, 137, 143, 130, 130, 171, 161, 168, 161, 151, 141, 153, 120, 138, 117, 125, 131, 113,
                        115, 102, 125, 155, 129, 157, 121, 126, 141, 95, 161, 132, 107, 129, 127, 111, 126, 108, 116, 120,
                        139, 141, 96, 127, 118, 116, 123, 150, 99, 114])
        XCTAssertEqual(PILResize.bilinear(image, width: 4, height: 8).pixels,
                       [128, 103, 71, 155, 159, 89, 146, 157, 106, 146, 138, 112, 99, 79, 129, 122, 87, 119, 178, 115, 137,
                        138, 112, 94, 38, 131, 152, 97, 141, 122, 134, 108, 168, 156, 153, 183, 92, 163, 104, 106, 145, 140,
                        133, 180, 162, 166, 158, 126, 95, 159, 135, 105, 112, 122, 141, 161, 173, 83, 169, 136, 157, 127,
                        114, 138, 103, 118, 153, 81, 130, 111, 129, 131, 116, 130, 105, 88, 105, 123, 129, 87, 134, 127,
                        103, 126, 105, 132, 135, 125, 138, 140, 136, 132, 131, 144, 109, 110])
    }

    func testSameSizeIsUnchanged() throws {
        let image = try RGBImage(width: 5, height: 3, pixels: source)
        XCTAssertEqual(PILResize.bilinear(image, width: 5, height: 3), image)
    }

    func testConstantImageStaysConstantUpAndDown() throws {
        let flat = try RGBImage(width: 37, height: 53, pixels: [UInt8](repeating: 0, count: 37 * 53).flatMap { _ in [12, 200, 255] })
        for (w, h) in [(112, 112), (5, 9), (37, 112), (112, 53)] {
            let out = PILResize.bilinear(flat, width: w, height: h)
            XCTAssertEqual(out.pixels, [UInt8](repeating: 0, count: w * h).flatMap { _ in [12, 200, 255] }, "\(w)x\(h)")
        }
    }

    func testWeightsAreNormalizedAndSupportGrowsWhenShrinking() {
        for (inSize, outSize) in [(640, 112), (37, 112), (113, 112), (112, 111)] {
            let c = PILResize.coefficients(inSize: inSize, outSize: outSize)
            for i in 0..<outSize {
                let sum = (0..<c.count[i]).reduce(0) { $0 + Int(c.weights[i * c.taps + $1]) }
                // Each weight is rounded to 22-bit fixed point separately: the sum is 2^22 within the tap count.
                XCTAssertLessThanOrEqual(abs(sum - (1 << 22)), c.taps, "\(inSize)->\(outSize) pixel \(i)")
                XCTAssertGreaterThanOrEqual(c.start[i], 0)
                XCTAssertLessThanOrEqual(c.start[i] + c.count[i], inSize)
            }
            // Downscaling by s reads about 2s source pixels per output pixel (antialiasing); upscaling reads 2-3.
            let widest = c.count.max()!
            let scale = Double(inSize) / Double(outSize)
            XCTAssertLessThanOrEqual(widest, Int((2 * max(scale, 1)).rounded(.up)) + 1)
            XCTAssertGreaterThanOrEqual(widest, Int(2 * max(scale, 1)))
        }
    }
}
