import XCTest
@testable import PetFaceKit

final class ContractTests: XCTestCase {
    /// 2x2 pixels: red, green / blue, white.
    let pixels = try! RGBImage(width: 2, height: 2, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])

    func testNCHWIsChannelPlanesOfRawRGB() throws {
        let c = InputContract(name: "input", layout: .nchw, dtype: .float32, size: 2)
        XCTAssertEqual(c.shape(), [1, 3, 2, 2])
        XCTAssertEqual(try Contract.inputTensor(pixels: pixels, contract: c),
                       .float([255, 0, 0, 255, /* G */ 0, 255, 0, 255, /* B */ 0, 0, 255, 255]))
    }

    func testNHWCKeepsInterleavedOrderAndValues0To255() throws {
        let c = InputContract(name: "input", layout: .nhwc, dtype: .float32, size: 2)
        XCTAssertEqual(c.shape(), [1, 2, 2, 3])
        XCTAssertEqual(try Contract.inputTensor(pixels: pixels, contract: c), .float(pixels.pixels.map(Float.init)))
    }

    func testInt8InputIsQuantizedWithRoundHalfToEvenAndClipped() throws {
        // scale 2: 255/2 = 127.5 rounds to 128 (even) -> 128 - 128 = 0; 0 -> -128. scale 0.5 saturates at 127.
        let half = InputContract(name: "x", layout: .nhwc, dtype: .int8, size: 2,
                                 quantization: Quantization(scale: 2, zeroPoint: -128))
        XCTAssertEqual(try Contract.inputTensor(pixels: pixels, contract: half),
                       .int8([0, -128, -128, -128, 0, -128, -128, -128, 0, 0, 0, 0]))
        let fine = InputContract(name: "x", layout: .nhwc, dtype: .int8, size: 2,
                                 quantization: Quantization(scale: 0.5, zeroPoint: 0))
        XCTAssertEqual(try Contract.inputTensor(pixels: pixels, contract: fine),
                       .int8([127, 0, 0, 0, 127, 0, 0, 0, 127, 127, 127, 127]))
        let missing = InputContract(name: "x", layout: .nhwc, dtype: .int8, size: 2)
        XCTAssertThrowsError(try Contract.inputTensor(pixels: pixels, contract: missing)) { error in
            XCTAssertTrue("\(error)".contains("no quantization parameters"), "\(error)")
        }
    }

    func testWrongPixelSizeIsRefused() {
        let c = InputContract(name: "input", layout: .nchw, dtype: .float32, size: 112)
        XCTAssertThrowsError(try Contract.inputTensor(pixels: pixels, contract: c)) { error in
            XCTAssertEqual("\(error)", "expected 112x112 pixels for input 'input', got 2x2")
        }
    }

    func testPixelsResizeToTheContractSize() throws {
        let c = InputContract(name: "input", layout: .nchw, dtype: .float32, size: 3)
        let out = try Contract.pixels(for: pixels, contract: c)
        XCTAssertEqual([out.width, out.height], [3, 3])
    }

    func testInt8OutputIsDequantizedAndRenormalized() throws {
        let c = OutputContract(name: "embedding", dtype: .int8, dim: 4, quantization: Quantization(scale: 0.5, zeroPoint: 10))
        // (q - 10) * 0.5 = [3, 0, -4, 0] -> / 5
        let v = try Contract.embedding(from: [16, 10, 2, 10], contract: c)
        XCTAssertEqual(v, [0.6, 0, -0.8, 0])
        XCTAssertThrowsError(try Contract.embedding(from: [1, 2, 3], contract: c))
    }

    func testFloatOutputIsRenormalizedAndZeroStaysZero() throws {
        let c = OutputContract(name: "embedding", dtype: .float16, dim: 2)
        XCTAssertEqual(try Contract.embedding(from: [3, 4], contract: c), [0.6, 0.8])
        XCTAssertEqual(try Contract.embedding(from: [0, 0], contract: c), [0, 0])
    }
}
