import XCTest
@testable import PetFaceKit

final class ManifestTests: XCTestCase {
    let dir = URL(fileURLWithPath: "/exports/run1")

    func parse(_ json: String) throws -> Manifest {
        try Manifest.parse(Data(json.utf8), directory: dir)
    }

    func testMinimalManifestGetsPythonDefaults() throws {
        let m = try parse("""
        {"schema": "petface-manifest", "schema_version": 1,
         "model": {"checkpoint_sha256": "abc", "image_size": 112, "embedding_dim": 128},
         "artifacts": [{"id": "coreml-fp16", "format": "coreml", "precision": "fp16",
                        "path": "pet_embedder_fp16.mlpackage", "status": "not verifiable here",
                        "input": {"name": "pixels", "layout": "NCHW", "dtype": "float32", "size": 112},
                        "output": {"name": "embedding", "dtype": "float32", "dim": 128},
                        "thresholds": {"best_accuracy": 0.41, "far_1e-3": 0.52, "source": "val split"}}]}
        """)
        XCTAssertEqual(m.fingerprint, "abc")
        XCTAssertEqual(m.imageSize, 112)
        let a = try m.artifact(id: "coreml-fp16")
        XCTAssertEqual(a.input?.normalization, "in_graph")
        XCTAssertEqual(a.input?.resize, "pil_bilinear")
        XCTAssertEqual(a.input?.range, [0, 255])
        XCTAssertNil(a.input?.batch)
        XCTAssertEqual(a.output?.l2Normalized, true)
        XCTAssertEqual(a.defaultThreshold, 0.41)
        XCTAssertEqual(a.threshold("far_1e-3"), 0.52)
        XCTAssertFalse(a.shippable)
        XCTAssertFalse(a.failed)
        XCTAssertEqual(m.url(of: a).path, "/exports/run1/pet_embedder_fp16.mlpackage")
        XCTAssertEqual(m.preferredArtifact(format: "coreml", requireFile: false)?.id, "coreml-fp16")
        XCTAssertNil(m.preferredArtifact(format: "coreml"), "the .mlpackage is not on disk")
        XCTAssertThrowsError(try m.artifact(id: "tflite-int8")) { error in
            XCTAssertEqual("\(error)", "/exports/run1/manifest.json: no artifact 'tflite-int8'; have [\"coreml-fp16\"]")
        }
    }

    func testWrongSchemaNewerVersionAndMalformedAreClearErrors() {
        XCTAssertThrowsError(try parse(#"{"schema": "other"}"#)) { error in
            XCTAssertEqual("\(error)", "/exports/run1/manifest.json: not a petface manifest (expected schema 'petface-manifest')")
        }
        XCTAssertThrowsError(try parse(#"{"schema": "petface-manifest", "schema_version": 2}"#)) { error in
            XCTAssertEqual("\(error)", "/exports/run1/manifest.json: manifest schema version 2 is not supported: "
                           + "this PetFaceKit reads version 1 (any minor)")
        }
        XCTAssertThrowsError(try parse("{not json")) { error in
            XCTAssertTrue("\(error)".contains("not valid JSON"), "\(error)")
        }
        let noLayout = #"{"schema": "petface-manifest", "schema_version": 1, "artifacts": [{"id": "a", "format": "onnx", "precision": "fp32", "path": "a.onnx", "status": "passed", "input": {"name": "x", "dtype": "float32", "size": 112}}]}"#
        XCTAssertThrowsError(try parse(noLayout)) { error in
            XCTAssertTrue("\(error)".contains("missing 'layout' at .artifacts[0].input"), "\(error)")
        }
    }

    func testNewerMinorSchemaOpensAndIgnoresUnknownFields() throws {
        let m = try parse("""
        {"schema": "petface-manifest", "schema_version": 1, "schema_minor": 42, "future": {"x": [1, 2]},
         "model": {"checkpoint_sha256": "abc", "image_size": 112, "embedding_dim": 128},
         "artifacts": [{"id": "coreml-fp16", "format": "coreml", "precision": "fp16", "identify_thresholds": [{"n": 1}],
                        "path": "pet_embedder_fp16.mlpackage", "status": "passed",
                        "input": {"name": "pixels", "layout": "NCHW", "dtype": "float32", "size": 112, "hint": 1},
                        "output": {"name": "embedding", "dtype": "float32", "dim": 128},
                        "thresholds": {"best_accuracy": 0.41, "source": "val split"}}]}
        """)
        XCTAssertEqual(m.schemaVersion, 1)
        XCTAssertEqual(try m.artifact(id: "coreml-fp16").defaultThreshold, 0.41)
    }

    func testMissingFileNamesThePath() {
        XCTAssertThrowsError(try Manifest.load(from: URL(fileURLWithPath: "/nonexistent/export"))) { error in
            XCTAssertEqual("\(error)", "/nonexistent/export: no manifest.json (expected a petface-export output directory)")
        }
    }

    func testFailedArtifactsAreNeverPreferred() throws {
        let m = try parse("""
        {"schema": "petface-manifest", "schema_version": 1, "artifacts": [
          {"id": "coreml-fp16", "format": "coreml", "precision": "fp16", "path": "a", "status": "failed parity",
           "input": {"name": "x", "layout": "NCHW", "dtype": "float32", "size": 112},
           "output": {"name": "y", "dtype": "float32", "dim": 128}},
          {"id": "coreml-fp32", "format": "coreml", "precision": "fp32", "path": "b", "status": "passed",
           "input": {"name": "x", "layout": "NCHW", "dtype": "float32", "size": 112},
           "output": {"name": "y", "dtype": "float32", "dim": 128}}]}
        """)
        XCTAssertEqual(m.preferredArtifact(format: "coreml", preferring: ["coreml-fp16"], requireFile: false)?.id,
                       "coreml-fp32")
        XCTAssertNil(m.preferredArtifact(format: "tflite", requireFile: false))
    }
}
