import XCTest
@testable import PetFaceKit

final class RGBImageTests: XCTestCase {
    /// A 3x2 image whose bytes are 0...17; expected outputs from PIL's `ImageOps.exif_transpose`.
    func testEXIFOrientationMatchesPIL() throws {
        let image = try RGBImage(width: 3, height: 2, pixels: Array(0..<18))
        let expected: [Int: (Int, Int, [UInt8])] = [
            1: (3, 2, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]),
            2: (3, 2, [6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11]),
            3: (3, 2, [15, 16, 17, 12, 13, 14, 9, 10, 11, 6, 7, 8, 3, 4, 5, 0, 1, 2]),
            4: (3, 2, [9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
            5: (2, 3, [0, 1, 2, 9, 10, 11, 3, 4, 5, 12, 13, 14, 6, 7, 8, 15, 16, 17]),
            6: (2, 3, [9, 10, 11, 0, 1, 2, 12, 13, 14, 3, 4, 5, 15, 16, 17, 6, 7, 8]),
            7: (2, 3, [15, 16, 17, 6, 7, 8, 12, 13, 14, 3, 4, 5, 9, 10, 11, 0, 1, 2]),
            8: (2, 3, [6, 7, 8, 15, 16, 17, 3, 4, 5, 12, 13, 14, 0, 1, 2, 9, 10, 11]),
        ]
        for tag in 1...8 {
            let (w, h, bytes) = expected[tag]!
            let upright = try image.applyingEXIFOrientation(tag)
            XCTAssertEqual([upright.width, upright.height], [w, h], "orientation \(tag)")
            XCTAssertEqual(upright.pixels, bytes, "orientation \(tag)")
        }
        XCTAssertThrowsError(try image.applyingEXIFOrientation(9))
    }

    func testWrongByteCountIsRefusedWithTheExpectedSize() {
        XCTAssertThrowsError(try RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 0, count: 47))) { error in
            XCTAssertEqual("\(error)", "a 4x4 RGB image needs 48 bytes, got 47")
        }
        XCTAssertThrowsError(try RGBImage(width: 0, height: 4, pixels: []))
    }

    func testCropClampsToTheImage() throws {
        let image = try RGBImage(width: 3, height: 2, pixels: Array(0..<18))
        let crop = try image.cropped(to: PixelRect(x: 1, y: -5, width: 10, height: 6))
        XCTAssertEqual([crop.width, crop.height], [2, 1])
        XCTAssertEqual(crop.pixels, [3, 4, 5, 6, 7, 8])
        XCTAssertThrowsError(try image.cropped(to: PixelRect(x: 3, y: 0, width: 2, height: 2)))
    }

    /// Cases and answers from Python's `petface_edge.runtime.detect.square_crop_box`.
    func testSquareCropMatchesPython() {
        let cases: [(PixelRect, Int, Int, Double, PixelRect)] = [
            (PixelRect(x: 10, y: 20, width: 30, height: 40), 200, 100, 0.2, PixelRect(x: 0, y: 12, width: 56, height: 56)),
            (PixelRect(x: 0, y: 0, width: 50, height: 50), 60, 300, 0.2, PixelRect(x: 0, y: 0, width: 60, height: 60)),
            (PixelRect(x: 150, y: 80, width: 45, height: 15), 200, 100, 0.2, PixelRect(x: 137, y: 37, width: 63, height: 63)),
            (PixelRect(x: 5, y: 5, width: 300, height: 10), 120, 90, 0.2, PixelRect(x: 30, y: 0, width: 90, height: 90)),
            (PixelRect(x: 33, y: 17, width: 25, height: 25), 100, 100, 0.1, PixelRect(x: 30, y: 14, width: 30, height: 30)),
            (PixelRect(x: 3, y: 3, width: 5, height: 5), 10, 10, 0.25, PixelRect(x: 2, y: 2, width: 8, height: 8)),
        ]
        for (box, w, h, margin, expected) in cases {
            XCTAssertEqual(CropGeometry.squareCrop(around: box, imageWidth: w, imageHeight: h, margin: margin), expected,
                           "\(box) in \(w)x\(h)")
        }
    }
}
