import XCTest
@testable import PetFaceKit

final class GalleryFileTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("petfacekit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func sample() throws -> Gallery {
        var g = Gallery(fingerprint: String(repeating: "ab", count: 32), dimension: 4, threshold: 0.4, artifact: "coreml-fp16")
        try g.enroll("Luna", embeddings: [[0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0]])
        try g.enroll("Milo", embeddings: [[0, -1, 0, 0]])
        return g
    }

    func testSaveLoadRoundTripIsExact() throws {
        let g = try sample()
        let url = folder.appendingPathComponent("pets.gallery")
        try g.save(to: url)
        let back = try Gallery.load(from: url, threshold: 0.4, fingerprint: g.fingerprint, dimension: 4)
        XCTAssertEqual(back.pets, g.pets)
        XCTAssertEqual(back.artifact, "coreml-fp16")
        XCTAssertEqual(back.fingerprint, g.fingerprint)
        XCTAssertFalse(back.created.isEmpty)
    }

    func testArchiveIsStoredZipWithNpyMember() throws {
        let g = try sample()
        let url = folder.appendingPathComponent("pets.gallery")
        try g.save(to: url)
        let members = try StoredZip.read(try Data(contentsOf: url))
        XCTAssertEqual(Set(members.keys), ["gallery.json", "templates.npy"])
        let npy = try NPY.readFloat32Matrix(members["templates.npy"]!)
        XCTAssertEqual([npy.rows, npy.cols], [3, 4])
        // numpy aligns the data to 64 bytes after a version-1.0 header.
        XCTAssertEqual((members["templates.npy"]!.count - 3 * 4 * 4) % 64, 0)
        let meta = try JSONSerialization.jsonObject(with: members["gallery.json"]!) as! [String: Any]
        XCTAssertEqual(meta["schema"] as? String, "petface-gallery")
        XCTAssertEqual((meta["pets"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["Luna", "Milo"])
    }

    func testAnotherModelsGalleryIsRefused() throws {
        let url = folder.appendingPathComponent("pets.gallery")
        try sample().save(to: url)
        XCTAssertThrowsError(try Gallery.load(from: url, threshold: 0.4, fingerprint: "cd" + String(repeating: "0", count: 62))) { error in
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": enrolled with model abababababab"), "\(error)")
        }
        XCTAssertThrowsError(try Gallery.load(from: url, threshold: 0.4, dimension: 128))
    }

    func testCorruptTruncatedAndMissingFilesGiveOneLineErrors() throws {
        let url = folder.appendingPathComponent("pets.gallery")
        try sample().save(to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[bytes.count / 2] ^= 0xFF  // inside a member: the CRC check catches it
        try Data(bytes).write(to: url)
        XCTAssertThrowsError(try Gallery.load(from: url, threshold: 0.4)) { error in
            XCTAssertTrue("\(error)".contains("fails its CRC check"), "\(error)")
        }
        try Data(bytes.prefix(100)).write(to: url)
        XCTAssertThrowsError(try Gallery.load(from: url, threshold: 0.4)) { error in
            XCTAssertTrue("\(error)".contains("not a petface gallery or corrupt"), "\(error)")
        }
        XCTAssertThrowsError(try Gallery.load(from: folder.appendingPathComponent("none"), threshold: 0.4)) { error in
            XCTAssertTrue("\(error)".hasSuffix("none: no such gallery file"), "\(error)")
        }
    }

    func testFutureSchemaAndNonUnitTemplatesAreRefused() throws {
        let npy = NPY.writeFloat32Matrix(rows: 1, cols: 2, values: [0.6, 0.8])
        func write(_ meta: String, _ npy: Data) throws -> URL {
            let url = folder.appendingPathComponent("x.gallery")
            try StoredZip.write([("gallery.json", Data(meta.utf8)), ("templates.npy", npy)]).write(to: url)
            return url
        }
        let future = #"{"schema": "petface-gallery", "schema_version": 2, "fingerprint": "f", "dim": 2, "pets": [{"name": "A", "templates": 1}]}"#
        XCTAssertThrowsError(try Gallery.load(from: try write(future, npy), threshold: 0.4)) { error in
            XCTAssertTrue("\(error)".contains("schema version 2 is newer"), "\(error)")
        }
        let ok = future.replacingOccurrences(of: "\"schema_version\": 2", with: "\"schema_version\": 1")
        XCTAssertEqual(try Gallery.load(from: try write(ok, npy), threshold: 0.4).names, ["A"])
        let long = NPY.writeFloat32Matrix(rows: 1, cols: 2, values: [3, 4])
        XCTAssertThrowsError(try Gallery.load(from: try write(ok, long), threshold: 0.4)) { error in
            XCTAssertTrue("\(error)".contains("not finite unit vectors"), "\(error)")
        }
        let wrongCount = ok.replacingOccurrences(of: "\"templates\": 1", with: "\"templates\": 2")
        XCTAssertThrowsError(try Gallery.load(from: try write(wrongCount, npy), threshold: 0.4)) { error in
            XCTAssertTrue("\(error)".contains("templates are (1, 2)"), "\(error)")
        }
    }

    func testCrcMatchesTheZipStandard() {
        XCTAssertEqual(StoredZip.crc32(Array("123456789".utf8)), 0xCBF4_3926)
    }
}
