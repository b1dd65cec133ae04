import Foundation

/// A model file that is not the one its manifest entry describes; the message names the file.
public struct IntegrityError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// The artifact's file checked against its manifest entry's sha256 before the model is compiled or run,
/// as the Python runtime checks an export it opens: a file changed or swapped after export is refused.
public enum ArtifactIntegrity {
    /// (bytes, sha256) of a file, or of a directory such as an `.mlpackage` exactly as
    /// `petface_edge.runtime.manifest.artifact_digest` computes it: the sha256 of one line
    /// `relative/path\0<file sha256>\n` per file, files in Python's path order.
    public static func digest(of url: URL) throws -> (bytes: Int, sha256: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw IntegrityError("\(url.path): no such file")
        }
        if !isDirectory.boolValue { return try fileDigest(url) }
        var files: [(parts: [String], url: URL)] = []
        guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw IntegrityError("\(url.path): cannot list the folder")
        }
        let rootParts = url.standardizedFileURL.resolvingSymlinksInPath().pathComponents
        for case let file as URL in walker {
            let resolved = file.standardizedFileURL.resolvingSymlinksInPath()
            guard (try? resolved.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            files.append((Array(resolved.pathComponents.dropFirst(rootParts.count)), resolved))
        }
        // Python sorts Path objects part by part, comparing code points.
        files.sort { lhs, rhs in
            lhs.parts.lexicographicallyPrecedes(rhs.parts) { a, b in
                a.unicodeScalars.map(\.value).lexicographicallyPrecedes(b.unicodeScalars.map(\.value))
            }
        }
        var hash = SHA256()
        var total = 0
        for file in files {
            let (bytes, sha) = try fileDigest(file.url)
            hash.update(Data("\(file.parts.joined(separator: "/"))\u{0}\(sha)\n".utf8))
            total += bytes
        }
        return (total, hash.hexDigest())
    }

    /// Refuses `artifact`'s file in `manifest`'s folder unless its sha256 is the manifest's.
    public static func verify(_ artifact: Artifact, in manifest: Manifest) throws {
        let url = manifest.url(of: artifact)
        let expected = artifact.sha256.lowercased()
        guard !expected.isEmpty else {
            throw IntegrityError("\(url.path): the manifest gives no sha256 for \(artifact.id), so the file cannot be "
                                 + "checked; re-export it with petface-export")
        }
        let actual = try digest(of: url).sha256
        guard actual == expected else {
            throw IntegrityError("\(url.path): sha256 \(actual.prefix(12))... is not the manifest's \(expected.prefix(12))... "
                                 + "for \(artifact.id): the file was changed or swapped after export; add the model again "
                                 + "with ios_demo/add_model.sh")
        }
    }

    private static func fileDigest(_ url: URL) throws -> (bytes: Int, sha256: String) {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw IntegrityError("\(url.path): cannot be read") }
        defer { try? handle.close() }
        var hash = SHA256()
        var total = 0
        while true {
            let block = handle.readData(ofLength: 1 << 20)
            if block.isEmpty { break }
            hash.update(block)
            total += block.count
        }
        return (total, hash.hexDigest())
    }
}
