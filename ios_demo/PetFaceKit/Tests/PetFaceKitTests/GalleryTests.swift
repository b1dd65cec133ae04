import XCTest
@testable import PetFaceKit

final class GalleryTests: XCTestCase {
    func makeGallery() throws -> Gallery {
        var g = Gallery(fingerprint: "f", dimension: 3, threshold: 0.5)
        try g.enroll("Milo", embeddings: [[1, 0, 0], [0, 1, 0]])
        try g.enroll("Luna", embeddings: [[0, 0, 2]])  // stored normalized
        return g
    }

    func testPetScoreIsTheMaximumOverItsTemplates() throws {
        let g = try makeGallery()
        let matches = try g.identify([0, 1, 0.2])
        XCTAssertEqual(matches.map(\.name), ["Milo", "Luna"])
        XCTAssertEqual(matches[0].score, Float(1 / (1.04).squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(try g.templates(of: "Luna"), [[0, 0, 1]])
    }

    func testTiesAreBrokenByNameInCodePointOrder() throws {
        var g = Gallery(fingerprint: "f", dimension: 2, threshold: 0.5)
        // Python sorts "Zed" before "apple" (code points); "É" (U+00C9) after both.
        for name in ["apple", "É", "Zed"] { try g.enroll(name, embeddings: [[1, 1]]) }
        XCTAssertEqual(try g.identify([1, 1]).map(\.name), ["Zed", "apple", "É"])
        XCTAssertEqual(g.names, ["Zed", "apple", "É"])
    }

    func testAcceptedMeansScoreAtLeastThresholdAndTopKCuts() throws {
        let g = try makeGallery()
        let matches = try g.identify([1, 0, 0], topK: 5, threshold: 1.0)
        XCTAssertEqual(matches.map(\.accepted), [true, false])
        XCTAssertEqual(try g.identify([1, 0, 0], topK: 1).count, 1)
        XCTAssertThrowsError(try g.identify([1, 0, 0], topK: 0))
        XCTAssertTrue(try g.identify([0, 0, 1]).first!.accepted)  // default threshold 0.5
    }

    func testEnrollingAnExistingNameAddsTemplates() throws {
        var g = try makeGallery()
        XCTAssertEqual(try g.enroll(" Luna ", embeddings: [[1, 1, 0]]), 2)
        XCTAssertEqual(g.count, 2)
        XCTAssertEqual(g.templateCount, 4)
    }

    func testRemoveRenameAndVerify() throws {
        var g = try makeGallery()
        try g.rename("Luna", to: "Nala")
        XCTAssertEqual(g.pets.map(\.name), ["Milo", "Nala"])  // order kept
        XCTAssertThrowsError(try g.rename("Nala", to: "Milo")) { error in
            XCTAssertEqual("\(error)", "cannot rename 'Nala' to 'Milo': 'Milo' is already enrolled")
        }
        XCTAssertTrue(try g.verify("Nala", embedding: [0, 0, 1]).accepted)
        XCTAssertFalse(try g.verify("Milo", embedding: [0, 0, 1]).accepted)
        try g.remove("Milo")
        XCTAssertEqual(g.names, ["Nala"])
        XCTAssertThrowsError(try g.remove("Milo")) { error in
            XCTAssertEqual("\(error)", "no pet named 'Milo' in the gallery")
        }
    }

    func testBadNamesAndEmbeddingsAreRefused() throws {
        var g = try makeGallery()
        XCTAssertThrowsError(try g.enroll("  ", embeddings: [[1, 0, 0]]))
        XCTAssertThrowsError(try g.enroll("Luna\n", embeddings: [[1, 0, 0]]))
        XCTAssertThrowsError(try g.enroll("Rex", embeddings: []))
        XCTAssertThrowsError(try g.enroll("Rex", embeddings: [[1, 0]])) { error in
            XCTAssertEqual("\(error)", "embeddings must have 3 dimensions, got 2")
        }
        XCTAssertThrowsError(try g.identify([.nan, 0, 0]))
    }
}
