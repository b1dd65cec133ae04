import XCTest
@testable import PetFaceKit

/// The crop policy against Python's golden crops (`tests/golden.py`, `crop_policy`): the same squares and
/// the same resized bytes on every golden image, and a gallery enrolled through the Swift policy answers
/// Python's queries as Python's gallery does.
final class CropPolicyTests: XCTestCase {
    struct Box: Decodable {
        let x, y, width, height: Int
        var rect: PixelRect { PixelRect(x: x, y: y, width: width, height: height) }
    }
    struct Case: Decodable {
        let image: String
        let box: Box
        let margin: Double
        let crop: Box
        let pixels: String
    }
    /// Enrolled pets and queries are laid out as the golden gallery's (`GoldenTests.Golden`).
    struct Section: Decodable {
        let artifact: String
        let threshold: Double
        let cases: [Case]
        let embeddings: [String: [Float]]
        let enrolled: [GoldenTests.Golden.Enrolled]
        let queries: [GoldenTests.Golden.Query]
    }
    struct Image: Decodable {
        let id, decoded, pixels: String
        let width, height: Int
    }
    struct Golden: Decodable {
        let fingerprint: String
        let images: [Image]
        let imageSize: Int
        let cropPolicy: Section

        enum CodingKeys: String, CodingKey {
            case fingerprint, images
            case imageSize = "image_size"
            case cropPolicy = "crop_policy"
        }
    }

    var root: URL!
    var golden: Golden!

    override func setUpWithError() throws {
        root = try GoldenTests.directory("PETFACE_GOLDEN_DIR")
        golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: root.appendingPathComponent("golden.json")))
    }

    func testNoFaceBoxGivesTheCentredSquareNeverASquashedPhoto() throws {
        XCTAssertEqual(CropPolicy.cropRect(width: 60, height: 40), PixelRect(x: 10, y: 0, width: 40, height: 40))
        XCTAssertEqual(CropPolicy.cropRect(width: 40, height: 61), PixelRect(x: 0, y: 10, width: 40, height: 40))
        let square = try RGBImage(width: 3, height: 3, pixels: Array(0..<27))
        XCTAssertEqual(try CropPolicy.crop(square), square)
        // The contract's pixels of a non-square image are its centred square's, not the whole image squashed.
        let wide = try RGBImage(width: 6, height: 3, pixels: (0..<54).map { UInt8($0) })
        let contract = InputContract(name: "pixels", layout: .nchw, dtype: .float32, size: 3)
        XCTAssertEqual(try Contract.pixels(for: wide, contract: contract), try wide.cropped(to: PixelRect(x: 1, y: 0, width: 3, height: 3)))
    }

    func testAFaceBoxIsSquaredGrownShiftedAndShrunkLikePython() {
        // The cases of tests/test_imaging.py, answered by Python.
        XCTAssertEqual(CropPolicy.cropRect(width: 60, height: 40, face: PixelRect(x: 2, y: 5, width: 20, height: 10)),
                       PixelRect(x: 0, y: 0, width: 28, height: 28))
        XCTAssertEqual(CropPolicy.cropRect(width: 60, height: 40, face: PixelRect(x: 30, y: 10, width: 10, height: 10), margin: 0.05),
                       PixelRect(x: 30, y: 10, width: 11, height: 11))
        XCTAssertEqual(CropPolicy.cropRect(width: 60, height: 40, face: PixelRect(x: 40, y: 20, width: 30, height: 30)),
                       PixelRect(x: 20, y: 0, width: 40, height: 40))
    }

    func testADetectorThatFailsOrFindsNothingGivesTheCentredSquare() throws {
        struct VisionFailed: LocalizedError { var errorDescription: String? { "Vision request failed" } }
        let photo = try RGBImage(width: 8, height: 4, pixels: (0..<96).map { UInt8($0) })
        let failed = try CropPolicy.crop(photo, margin: CropPolicy.animalMargin) { throw VisionFailed() }
        XCTAssertEqual(failed.detection, .failed("Vision request failed"))
        XCTAssertEqual(failed.rect, PixelRect(x: 2, y: 0, width: 4, height: 4))
        XCTAssertEqual(failed.image, try photo.cropped(to: failed.rect))
        let none = try CropPolicy.crop(photo, margin: CropPolicy.animalMargin) { nil }
        XCTAssertEqual(none.detection, .notFound)
        XCTAssertEqual(none.rect, failed.rect)
        let found = try CropPolicy.crop(photo, margin: 0) { PixelRect(x: 5, y: 1, width: 2, height: 2) }
        XCTAssertEqual(found.detection, .found(PixelRect(x: 5, y: 1, width: 2, height: 2)))
        XCTAssertEqual(found.rect, PixelRect(x: 5, y: 1, width: 2, height: 2))
    }

    func testEveryGoldenCropIsPythonsSquareAndPythonsPixels() throws {
        let s = golden.imageSize
        let images = Dictionary(uniqueKeysWithValues: golden.images.map { ($0.id, $0) })
        XCTAssertEqual(golden.cropPolicy.cases.count, golden.images.count)
        XCTAssertEqual(Set(golden.cropPolicy.cases.map(\.margin)), [CropPolicy.faceMargin, CropPolicy.animalMargin])
        for c in golden.cropPolicy.cases {
            let image = try XCTUnwrap(images[c.image])
            let decoded = try RGBImage(contentsOf: root.appendingPathComponent(image.decoded), width: image.width, height: image.height)
            let rect = CropPolicy.cropRect(width: image.width, height: image.height, face: c.box.rect, margin: c.margin)
            XCTAssertEqual(rect, c.crop.rect, c.image)
            let ours = PILResize.bilinear(try CropPolicy.crop(decoded, face: c.box.rect, margin: c.margin), width: s, height: s)
            let python = try RGBImage(contentsOf: root.appendingPathComponent(c.pixels), width: s, height: s)
            XCTAssertEqual(ours.pixels, python.pixels, "\(c.image): crop pixels differ from Python's")
        }
        print("golden crops: \(golden.cropPolicy.cases.count) face-box squares byte-identical to Python's")
    }

    /// Byte-identical crops are the same model input, so the gallery enrolled from the Swift crops carries
    /// Python's embeddings of those bytes (CoreML cannot run on Linux) and must answer Python's queries alike.
    func testAGalleryEnrolledThroughTheSwiftCropPolicyIdentifiesPythonsQueriesAlike() throws {
        let section = golden.cropPolicy
        let s = golden.imageSize
        let images = Dictionary(uniqueKeysWithValues: golden.images.map { ($0.id, $0) })
        let cases = Dictionary(uniqueKeysWithValues: section.cases.map { ($0.image, $0) })
        var gallery = Gallery(fingerprint: golden.fingerprint, dimension: section.embeddings.values.first?.count ?? 0,
                              threshold: section.threshold, artifact: section.artifact)
        for pet in section.enrolled {
            let vectors: [[Float]] = try pet.images.map { id in
                let c = try XCTUnwrap(cases[id]), image = try XCTUnwrap(images[id])
                let decoded = try RGBImage(contentsOf: root.appendingPathComponent(image.decoded), width: image.width, height: image.height)
                let ours = PILResize.bilinear(try CropPolicy.crop(decoded, face: c.box.rect, margin: c.margin), width: s, height: s)
                let python = try RGBImage(contentsOf: root.appendingPathComponent(c.pixels), width: s, height: s)
                XCTAssertEqual(ours.pixels, python.pixels, id)
                return try XCTUnwrap(section.embeddings[id])
            }
            try gallery.enroll(pet.name, embeddings: vectors)
        }
        for query in section.queries {
            let ours = try gallery.identify(try XCTUnwrap(section.embeddings[query.image]), topK: query.matches.count)
            XCTAssertEqual(ours.map(\.name), query.matches.map(\.name), query.image)
            XCTAssertEqual(ours.map(\.accepted), query.matches.map(\.accepted), query.image)
            for (a, b) in zip(ours, query.matches) { XCTAssertEqual(Double(a.score), b.score, accuracy: 1e-5) }
        }
        print("crop-policy gallery: \(section.queries.count) Python queries, identical names and decisions")
    }
}
