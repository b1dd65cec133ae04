import Foundation

/// A target rate the artifact's calibration cannot support (or never calibrated): refused, never guessed.
public struct UnsupportedTargetError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The decision rule a result was judged by: accept when `score >= threshold`. `target` is the FAR
/// (verify) or FPIR (identify) the threshold was calibrated for; `gallerySize` the template count an
/// identify threshold was chosen at.
public struct OperatingPoint: Equatable, Sendable {
    public let policy: String
    public let threshold: Double
    public let target: Double?
    public let gallerySize: Int?
}

/// The two decision policies of one artifact, from its manifest `thresholds` (written by
/// `petface_edge.thresholds.calibrate_policies`; the same lookup as `identify_threshold` there):
/// verify thresholds per target FAR, identify thresholds per target FPIR over gallery template
/// counts, linear in ln N between table entries. Null entries are targets the calibration cannot
/// support; asking for one throws `UnsupportedTargetError`.
public struct DecisionTables: Sendable {
    public let defaultFAR: Double
    public let verify: [String: Double?]
    public let defaultFPIR: Double
    public let templateCounts: [Int]
    public let identify: [String: [Double?]]
    let artifact: String

    /// The tables in an artifact's `thresholds`, or nil when the manifest predates them (re-export).
    init?(_ thresholds: [String: JSONValue], artifact: String) throws {
        guard case .object(let v)? = thresholds["verify"], case .object(let i)? = thresholds["identify"] else { return nil }
        func fail(_ what: String) -> Error { UnsupportedTargetError("\(artifact): manifest thresholds.\(what) is malformed; re-export it") }
        guard let far = v["default_far"]?.doubleValue, case .object(let vt)? = v["thresholds"],
              let fpir = i["default_fpir"]?.doubleValue, case .object(let it)? = i["thresholds"],
              case .array(let counts)? = i["template_counts"] else { throw fail("verify/identify") }
        let n = counts.compactMap(\.intValue)
        guard !n.isEmpty, n.count == counts.count, zip(n, n.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("identify.template_counts")
        }
        var columns: [String: [Double?]] = [:]
        for (key, value) in it {
            guard case .array(let column) = value, column.count == n.count else { throw fail("identify.thresholds.\(key)") }
            columns[key] = column.map(\.doubleValue)
        }
        defaultFAR = far
        verify = vt.mapValues(\.doubleValue)
        defaultFPIR = fpir
        templateCounts = n
        identify = columns
        self.artifact = artifact
    }

    public func verifyPoint(far: Double? = nil) throws -> OperatingPoint {
        let rate = far ?? defaultFAR
        guard let value = try entry(verify, rate, "verify FAR") else {
            throw UnsupportedTargetError("\(artifact): verify FAR \(Self.rateKey(rate)) is below what its calibration supports; choose a higher FAR or pass a raw threshold")
        }
        return OperatingPoint(policy: "verify", threshold: value, target: rate, gallerySize: nil)
    }

    /// The identify operating point for `fpir` (default the manifest's) over `templates` gallery templates.
    public func identifyPoint(templates: Int, fpir: Double? = nil) throws -> OperatingPoint {
        let rate = fpir ?? defaultFPIR
        let column = try entry(identify, rate, "identify FPIR")
        let n = max(templates, templateCounts[0])
        guard let hi = templateCounts.firstIndex(where: { $0 >= n }), let upper = column[hi],
              templateCounts[hi] == n || column[hi - 1] != nil else {
            let largest = zip(templateCounts, column).filter { $0.1 != nil }.map(\.0).max() ?? 0
            throw UnsupportedTargetError("\(artifact): identify FPIR \(Self.rateKey(rate)) over \(templates) templates is beyond what its calibration supports (up to \(largest) templates); choose a higher FPIR or pass a raw threshold")
        }
        var threshold = upper
        if templateCounts[hi] != n, let lower = column[hi - 1] {
            let f = (log(Double(n)) - log(Double(templateCounts[hi - 1])))
                / (log(Double(templateCounts[hi])) - log(Double(templateCounts[hi - 1])))
            threshold = lower + f * (upper - lower)
        }
        return OperatingPoint(policy: "identify", threshold: threshold, target: rate, gallerySize: templates)
    }

    private func entry<T>(_ table: [String: T], _ rate: Double, _ what: String) throws -> T {
        let key = Self.rateKey(rate)
        guard let value = table[key], let exact = Double(key), abs(exact - rate) <= 1e-9 * rate else {
            throw UnsupportedTargetError("\(artifact): \(what) \(rate) was not calibrated (calibrated: \(table.keys.sorted().joined(separator: ", "))); pass one of those or a raw threshold")
        }
        return value
    }

    /// The manifest's spelling of a rate, as Python's `rate_key`: 1e-3 -> "1e-3".
    public static func rateKey(_ rate: Double) -> String {
        String(format: "%.0e", rate).replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e")
    }
}

/// Ranked matches of one query and the identify operating point that judged them.
public struct IdentifyResult: Equatable, Sendable {
    public let matches: [Match]
    public let operatingPoint: OperatingPoint

    /// The accepted top match's name, or nil when the query is nobody enrolled.
    public var best: String? { matches.first.flatMap { $0.accepted ? $0.name : nil } }
}

extension Gallery {
    /// `identify` by the identify policy of `tables`: target `fpir` (default the manifest's, 1e-2) at this
    /// gallery's current template count, so the threshold rises as the gallery grows.
    public func identify(_ embedding: [Float], policy tables: DecisionTables, topK: Int = 5,
                         fpir: Double? = nil) throws -> IdentifyResult {
        let point = try tables.identifyPoint(templates: templateCount, fpir: fpir)
        return IdentifyResult(matches: try identify(embedding, topK: topK, threshold: point.threshold), operatingPoint: point)
    }
}
