import XCTest
@testable import PetFaceKit

final class ManifestTests: XCTestCase {
    let dir = URL(fileURLWithPath: "/exports/run1")

    func parse(_ json: String) throws -> Manifest {
        try Manifest.parse(Data(json.utf8), directory: dir)
    }

    func testDecisionTablesInterpolateOnLogNAndRefuseUnsupportedTargets() throws {
        let m = try parse("""
        {"schema": "petface-manifest", "schema_version": 1,
         "model": {"checkpoint_sha256": "abc", "image_size": 112, "embedding_dim": 128},
         "artifacts": [{"id": "onnx-fp32", "format": "onnx", "precision": "fp32", "path": "m.onnx", "status": "passed",
                        "input": {"name": "pixels", "layout": "NCHW", "dtype": "float32", "size": 112},
                        "output": {"name": "embedding", "dtype": "float32", "dim": 128},
                        "thresholds": {"best_accuracy": 0.3,
           "verify": {"default_far": 0.001, "thresholds": {"1e-2": 0.3, "1e-3": 0.4, "1e-4": 0.5, "1e-5": null}},
           "identify": {"default_fpir": 0.01, "template_counts": [1, 2, 5, 10, 20],
                        "thresholds": {"1e-1": [0.2, 0.25, 0.3, 0.35, 0.4], "1e-2": [0.3, 0.35, 0.4, 0.45, null]}}}}]}
        """)
        let d = try XCTUnwrap(try m.artifact(id: "onnx-fp32").decisions)
        XCTAssertEqual(try d.verifyPoint(), OperatingPoint(policy: "verify", threshold: 0.4, target: 0.001, gallerySize: nil))
        XCTAssertEqual(try d.identifyPoint(templates: 5), OperatingPoint(policy: "identify", threshold: 0.4, target: 0.01, gallerySize: 5))
        XCTAssertEqual(try d.identifyPoint(templates: 0).threshold, 0.3)
        XCTAssertEqual(try d.identifyPoint(templates: 7).threshold, 0.4 + log(7.0 / 5) / log(2.0) * 0.05, accuracy: 1e-12)
        let rising = try (1...10).map { try d.identifyPoint(templates: $0).threshold }
        XCTAssertEqual(rising, rising.sorted())
        XCTAssertEqual(try d.identifyPoint(templates: 20, fpir: 0.1).threshold, 0.4)
        XCTAssertThrowsError(try d.identifyPoint(templates: 11)) { XCTAssertTrue("\($0)".contains("beyond")) }
        XCTAssertThrowsError(try d.identifyPoint(templates: 3, fpir: 0.02)) { XCTAssertTrue("\($0)".contains("not calibrated")) }
        XCTAssertThrowsError(try d.verifyPoint(far: 1e-5)) { XCTAssertTrue("\($0)".contains("onnx-fp32")) }
        XCTAssertEqual(DecisionTables.rateKey(0.001), "1e-3")
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
        XCTAssertEqual(a.threshold("best_accuracy"), 0.41)
        XCTAssertNil(a.decisions, "exported before the decision tables")
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
        XCTAssertEqual(try m.artifact(id: "coreml-fp16").threshold("best_accuracy"), 0.41)
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
