import XCTest
@testable import PetFaceKit

/// sha256 of model files and packages as Python computes it, and the refusal of a swapped file.
final class IntegrityTests: XCTestCase {
    func testSHA256KnownAnswers() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 56 bytes: the padding spills into a second block.
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Fed in uneven pieces, the same digest as at once.
        let data = Data((0..<1000).map { UInt8($0 % 251) })
        var pieces = SHA256()
        for range in [0..<1, 1..<63, 63..<64, 64..<200, 200..<1000] { pieces.update(data.subdata(in: range)) }
        XCTAssertEqual(pieces.hexDigest(), SHA256.hex(data))
    }

    func testExportedFilesAndTheCoreMLPackageMatchTheirManifests() throws {
        let root = try GoldenTests.directory("PETFACE_GOLDEN_DIR")
        for folder in [root, root.appendingPathComponent("coreml")] {
            let manifest = try Manifest.load(from: folder)
            for artifact in manifest.artifacts {
                let start = Date()
                let (bytes, sha) = try ArtifactIntegrity.digest(of: manifest.url(of: artifact))
                XCTAssertEqual(sha, artifact.sha256, artifact.id)
                XCTAssertEqual(bytes, artifact.bytes, artifact.id)
                try ArtifactIntegrity.verify(artifact, in: manifest)
                print("integrity: \(artifact.id) \(bytes) bytes hashed in \(Int(Date().timeIntervalSince(start) * 1000)) ms")
            }
        }
        let coreml = try Manifest.load(from: root.appendingPathComponent("coreml"))
        XCTAssertEqual(coreml.artifacts.first?.format, "coreml") // a directory digest, as artifact_digest makes it
    }

    func testASwappedFileOrPackageIsRefused() throws {
        let root = try GoldenTests.directory("PETFACE_GOLDEN_DIR")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("petface-integrity-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let manifest = try Manifest.load(from: root)
        let fp32 = try manifest.artifact(id: "tflite-fp32"), int8 = try manifest.artifact(id: "tflite-int8")
        // The INT8 file under the FP32 name, beside the real manifest.
        try FileManager.default.copyItem(at: root.appendingPathComponent("manifest.json"), to: scratch.appendingPathComponent("manifest.json"))
        try FileManager.default.copyItem(at: manifest.url(of: int8), to: scratch.appendingPathComponent(fp32.path))
        let swapped = try Manifest.load(from: scratch)
        XCTAssertThrowsError(try ArtifactIntegrity.verify(try swapped.artifact(id: "tflite-fp32"), in: swapped)) { error in
            XCTAssertTrue("\(error)".contains(fp32.path) && "\(error)".contains("tflite-fp32"), "\(error)")
            XCTAssertTrue(error is IntegrityError)
        }
        // One changed byte inside a CoreML package changes its directory digest.
        let coremlRoot = root.appendingPathComponent("coreml")
        let coreml = try Manifest.load(from: coremlRoot)
        let package = try XCTUnwrap(coreml.artifacts.first)
        let copy = scratch.appendingPathComponent("coreml")
        try FileManager.default.copyItem(at: coremlRoot, to: copy)
        let copied = try Manifest.load(from: copy)
        try ArtifactIntegrity.verify(package, in: copied)
        let weights = try XCTUnwrap(FileManager.default.enumerator(atPath: copied.url(of: package).path)?
            .compactMap { $0 as? String }.first { $0.hasSuffix(".bin") })
        let file = copied.url(of: package).appendingPathComponent(weights)
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: file)
        XCTAssertThrowsError(try ArtifactIntegrity.verify(package, in: copied))
        XCTAssertThrowsError(try ArtifactIntegrity.digest(of: scratch.appendingPathComponent("missing")))
    }

    func testStatusLabels() throws {
        XCTAssertEqual(Verification(status: "passed"), .verified)
        XCTAssertEqual(Verification(status: "not verifiable here"), .notVerifiedOnThisOS)
        XCTAssertEqual(Verification(status: "failed parity"), .failed("failed parity"))
        XCTAssertEqual(Verification(status: "pending"), .unverified("pending"))
        XCTAssertTrue(Verification.notVerifiedOnThisOS.label.contains("petface-verify EXPORT_DIR"))
        // The CoreML package exported on Linux is labelled so.
        let root = try GoldenTests.directory("PETFACE_GOLDEN_DIR")
        let coreml = try XCTUnwrap(try Manifest.load(from: root.appendingPathComponent("coreml")).artifacts.first)
        XCTAssertEqual(coreml.verification, Verification(status: coreml.status))
        #if os(Linux)
        XCTAssertEqual(coreml.verification, .notVerifiedOnThisOS)
        #endif
    }
}
