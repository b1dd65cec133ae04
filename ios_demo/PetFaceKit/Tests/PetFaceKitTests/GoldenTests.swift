import XCTest
@testable import PetFaceKit

/// Reproduces the Python runtime's golden files (`tests/golden.py`): resized pixels, the copied
/// manifest, and identify on the golden gallery with Python's embeddings standing in for the model
/// (CoreML cannot run on Linux). `ios_demo/run_swift_tests.sh GOLDEN_DIR` sets PETFACE_GOLDEN_DIR,
/// and PETFACE_INTEROP_DIR for the gallery-file exchange with Python.
final class GoldenTests: XCTestCase {
    struct Golden: Decodable {
        struct Image: Decodable {
            let id, source, decoded, pixels: String
            let width, height: Int
        }
        struct Enrolled: Decodable {
            let name: String
            let images: [String]
        }
        struct Expected: Decodable {
            let name: String
            let score: Double
            let accepted: Bool
        }
        struct Query: Decodable {
            let image: String
            let expected: String?
            let matches: [Expected]
        }
        struct Decision: Decodable {
            let image: String
            let expected: String?
            let top1: String
            let score: Double
            let accepted: Bool
        }
        struct Point: Decodable {
            let threshold: Double
            let target: Double
        }
        struct Size: Decodable {
            let pets: Int
            let templates: Int
            let operatingPoint: Point
            let queries: [Decision]
            enum CodingKeys: String, CodingKey {
                case pets, templates, queries
                case operatingPoint = "operating_point"
            }
        }
        struct IdentifyCase: Decodable {
            let artifact: String
            let sizes: [Size]
        }
        struct GalleryCase: Decodable {
            let artifact: String
            let threshold: Double
            let enrolled: [Enrolled]
            let queries: [Query]
        }
        let schema: String
        let schemaVersion: Int
        let imageSize: Int
        let fingerprint: String
        let images: [Image]
        let embeddings: [String: [String: [Float]]]
        let gallery: GalleryCase
        let identify: IdentifyCase

        enum CodingKeys: String, CodingKey {
            case schema, fingerprint, images, embeddings, gallery, identify
            case schemaVersion = "schema_version"
            case imageSize = "image_size"
        }
    }

    static func directory(_ variable: String) throws -> URL {
        guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty else {
            throw XCTSkip("\(variable) is not set: run ios_demo/run_swift_tests.sh GOLDEN_DIR")
        }
        return URL(fileURLWithPath: path)
    }

    var root: URL!
    var golden: Golden!

    override func setUpWithError() throws {
        root = try Self.directory("PETFACE_GOLDEN_DIR")
        let data = try Data(contentsOf: root.appendingPathComponent("golden.json"))
        golden = try JSONDecoder().decode(Golden.self, from: data)
    }

    func testGoldenFileIsTheExpectedSchema() {
        XCTAssertEqual(golden.schema, "petface-golden")
        XCTAssertEqual(golden.schemaVersion, 1)
        XCTAssertFalse(golden.images.isEmpty)
        XCTAssertNotNil(golden.embeddings[golden.gallery.artifact], "no embeddings for the gallery's artifact")
    }

    /// decoded/*.rgb cut by the crop policy (centred square) and through PILResize must land within 1/255
    /// of Python's pixels/*.rgb.
    func testResizedPixelsMatchPython() throws {
        let s = golden.imageSize
        var worst = 0, differing = 0, total = 0
        var shapes = Set<String>()
        for image in golden.images {
            let decoded = try RGBImage(contentsOf: root.appendingPathComponent(image.decoded), width: image.width,
                                       height: image.height)
            let expected = try RGBImage(contentsOf: root.appendingPathComponent(image.pixels), width: s, height: s)
            let ours = PILResize.bilinear(try CropPolicy.crop(decoded), width: s, height: s)
            var imageWorst = 0
            for i in 0..<expected.pixels.count where ours.pixels[i] != expected.pixels[i] {
                imageWorst = max(imageWorst, abs(Int(ours.pixels[i]) - Int(expected.pixels[i])))
                differing += 1
            }
            XCTAssertLessThanOrEqual(imageWorst, 1, "\(image.id) (\(image.width)x\(image.height), \(image.source))")
            worst = max(worst, imageWorst)
            total += expected.pixels.count
            if image.width != image.height { shapes.insert("non-square") }
            if max(image.width, image.height) > s { shapes.insert("downscaled") }
            if min(image.width, image.height) < s { shapes.insert("upscaled") }
        }
        // The golden set must exercise the resize, not only pass it through.
        XCTAssertEqual(shapes, ["non-square", "downscaled", "upscaled"], "golden images do not cover every resize case")
        print("golden resize: \(golden.images.count) images, max |diff| \(worst)/255, \(differing) of \(total) bytes differ")
    }

    func testCopiedManifestParses() throws {
        let manifest = try Manifest.load(from: root)
        XCTAssertEqual(manifest.fingerprint, golden.fingerprint)
        XCTAssertEqual(manifest.imageSize, golden.imageSize)
        XCTAssertFalse(manifest.artifacts.isEmpty)
        for artifact in manifest.artifacts {
            XCTAssertTrue(FileManager.default.fileExists(atPath: manifest.url(of: artifact).path),
                          "\(artifact.id): \(artifact.path) not found beside manifest.json")
            let input = try XCTUnwrap(artifact.input, artifact.id)
            let output = try XCTUnwrap(artifact.output, artifact.id)
            XCTAssertEqual(input.size, golden.imageSize, artifact.id)
            XCTAssertEqual(input.normalization, "in_graph", artifact.id)
            XCTAssertEqual(input.shape().count, 4, artifact.id)
            XCTAssertNotNil(artifact.decisions, "\(artifact.id) has no verify/identify decision tables")
            if let vectors = golden.embeddings[artifact.id] {
                XCTAssertEqual(vectors.values.first?.count, output.dim, artifact.id)
            }
        }
        let fp32 = try manifest.artifact(id: "tflite-fp32")
        XCTAssertEqual(fp32.input?.layout, .nhwc)
        XCTAssertEqual(fp32.input?.dtype, .float32)
        XCTAssertNotNil(manifest.preferredArtifact(format: "tflite"))
        // The golden gallery's threshold is the identify policy's at its size, as the Python runtime resolves it.
        let decisions = try XCTUnwrap(try manifest.artifact(id: golden.gallery.artifact).decisions)
        let templates = golden.gallery.enrolled.reduce(0) { $0 + $1.images.count }
        XCTAssertEqual(try decisions.identifyPoint(templates: templates).threshold, golden.gallery.threshold, accuracy: 1e-12)
        if let int8 = try? manifest.artifact(id: "tflite-int8") {
            XCTAssertEqual(int8.input?.dtype, .int8)
            XCTAssertNotNil(int8.input?.quantization, "full-integer input needs its quantization parameters")
            XCTAssertNotNil(int8.output?.quantization, "int8 output needs its quantization parameters")
        }
    }

    /// Golden pixels through the real artifacts' input contracts: exactly the pixel values, in their layout.
    func testGoldenPixelsBecomeTheContractTensor() throws {
        let manifest = try Manifest.load(from: root)
        let contract = try XCTUnwrap(try manifest.artifact(id: "tflite-fp32").input)
        let image = try XCTUnwrap(golden.images.first)
        let pixels = try RGBImage(contentsOf: root.appendingPathComponent(image.pixels), width: golden.imageSize,
                                  height: golden.imageSize)
        XCTAssertEqual(try Contract.inputTensor(pixels: pixels, contract: contract), .float(pixels.pixels.map(Float.init)))
        if let int8 = (try? manifest.artifact(id: "tflite-int8"))?.input, let q = int8.quantization {
            guard case .int8(let codes) = try Contract.inputTensor(pixels: pixels, contract: int8) else {
                return XCTFail("int8 contract gave a non-int8 tensor")
            }
            let back = codes.map { Double(Int($0) - q.zeroPoint) * q.scale }
            let worst = zip(back, pixels.pixels).map { abs($0 - Double($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, q.scale / 2 + 1e-9, "int8 input codes do not dequantize to the pixels")
        }
    }

    func testIdentifyMatchesPython() throws {
        let gallery = try goldenGallery()
        let vectors = try XCTUnwrap(golden.embeddings[golden.gallery.artifact])
        XCTAssertFalse(golden.gallery.queries.isEmpty)
        XCTAssertTrue(golden.gallery.queries.contains { $0.expected == nil }, "golden queries include no unenrolled pet")
        try assertIdentify(gallery, vectors)
    }

    /// The identify policy's decisions on strangers and enrolled pets at two gallery sizes, as Python made them
    /// (Python's embeddings stand in for CoreML, which cannot run on Linux).
    func testIdentifyPolicyDecidesLikePythonAtTwoGallerySizes() throws {
        let manifest = try Manifest.load(from: root)
        let decisions = try XCTUnwrap(try manifest.artifact(id: golden.identify.artifact).decisions)
        let vectors = try XCTUnwrap(golden.embeddings[golden.identify.artifact])
        XCTAssertEqual(golden.identify.sizes.map(\.templates), [8, 24])
        for size in golden.identify.sizes {
            var gallery = Gallery(fingerprint: golden.fingerprint, dimension: vectors.values.first?.count ?? 0, threshold: 0)
            for pet in golden.gallery.enrolled.prefix(size.pets) {
                try gallery.enroll(pet.name, embeddings: try pet.images.map { try XCTUnwrap(vectors[$0], $0) })
            }
            XCTAssertTrue(size.queries.contains { $0.expected == nil } && size.queries.contains { $0.expected != nil })
            for q in size.queries {
                let result = try gallery.identify(try XCTUnwrap(vectors[q.image]), policy: decisions, topK: 1)
                XCTAssertEqual(result.operatingPoint.gallerySize, size.templates)
                XCTAssertEqual(result.operatingPoint.target, size.operatingPoint.target)
                XCTAssertEqual(result.operatingPoint.threshold, size.operatingPoint.threshold, accuracy: 1e-12)
                XCTAssertEqual(result.matches.first?.name, q.top1, "\(size.pets) pets, \(q.image): top-1")
                XCTAssertEqual(result.matches.first?.accepted, q.accepted, "\(size.pets) pets, \(q.image): accepted")
            }
            print("identify at \(size.templates) templates: \(size.queries.count) decisions identical to Python")
        }
    }

    /// Python's output contract applied to Python's outputs changes nothing: they are already unit vectors.
    func testEmbeddingsAreUnitVectors() throws {
        for (artifact, vectors) in golden.embeddings {
            for (id, v) in vectors {
                XCTAssertEqual(Vector.norm(v), 1, accuracy: 1e-4, "\(artifact) \(id)")
            }
        }
    }

    /// A gallery file written by the Python runtime (gallery_interop.py write) loads here unchanged.
    func testReadsTheGalleryFilePythonWrote() throws {
        let interop = try Self.directory("PETFACE_INTEROP_DIR")
        let loaded = try Gallery.load(from: interop.appendingPathComponent("python.gallery"),
                                      threshold: golden.gallery.threshold, fingerprint: golden.fingerprint)
        let expected = try goldenGallery()
        XCTAssertEqual(loaded.pets.map(\.name), expected.pets.map(\.name))
        for (a, b) in zip(loaded.pets, expected.pets) {
            XCTAssertEqual(a.templates.count, b.templates.count, a.name)
            for (x, y) in zip(a.templates, b.templates) {
                XCTAssertLessThanOrEqual(zip(x, y).map { abs($0 - $1) }.max() ?? 1, 1e-6, a.name)
            }
        }
        try assertIdentify(loaded, try XCTUnwrap(golden.embeddings[golden.gallery.artifact]))
    }

    /// Writes swift.gallery for Python to read back (gallery_interop.py check, run by the test script).
    func testWritesAGalleryFileForPython() throws {
        let interop = try Self.directory("PETFACE_INTEROP_DIR")
        let gallery = try goldenGallery()
        let url = interop.appendingPathComponent("swift.gallery")
        try gallery.save(to: url)
        let back = try Gallery.load(from: url, threshold: golden.gallery.threshold, fingerprint: golden.fingerprint)
        XCTAssertEqual(back.pets, gallery.pets)
    }

    private func goldenGallery() throws -> Gallery {
        let vectors = try XCTUnwrap(golden.embeddings[golden.gallery.artifact])
        var gallery = Gallery(fingerprint: golden.fingerprint, dimension: vectors.values.first?.count ?? 0,
                              threshold: golden.gallery.threshold, artifact: golden.gallery.artifact)
        for pet in golden.gallery.enrolled {
            try gallery.enroll(pet.name, embeddings: try pet.images.map { try XCTUnwrap(vectors[$0], $0) })
        }
        return gallery
    }

    /// Same names in the same order, same accepted flags, scores within 1e-5 of Python's.
    private func assertIdentify(_ gallery: Gallery, _ vectors: [String: [Float]]) throws {
        var worst = 0.0
        for query in golden.gallery.queries {
            let expected = query.matches
            let ours = try gallery.identify(try XCTUnwrap(vectors[query.image], query.image), topK: expected.count)
            XCTAssertEqual(ours.map(\.name), expected.map(\.name), "query \(query.image)")
            XCTAssertEqual(ours.map(\.accepted), expected.map(\.accepted), "query \(query.image)")
            for (a, b) in zip(ours, expected) {
                XCTAssertEqual(Double(a.score), b.score, accuracy: 1e-5, "query \(query.image) \(a.name)")
                worst = max(worst, abs(Double(a.score) - b.score))
            }
        }
        print("golden identify: \(golden.gallery.queries.count) queries identical, max |score diff| \(worst)")
    }
}
