import Foundation

/// Embedding arithmetic shared by the contract and the gallery.
public enum Vector {
    /// `v / max(|v|, 1e-12)`, like the Python runtime (a zero vector stays zero instead of NaN).
    public static func l2Normalized(_ v: [Float]) -> [Float] {
        let norm = max(norm(v), 1e-12)
        return v.map { Float(Double($0) / norm) }
    }

    public static func norm(_ v: [Float]) -> Double {
        var s = 0.0
        for x in v { s += Double(x) * Double(x) }
        return s.squareRoot()
    }

    /// Dot product accumulated in double precision; on unit vectors it is the cosine similarity.
    public static func dot(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "vectors of different lengths: \(a.count) and \(b.count)")
        var s = 0.0
        for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
        return Float(s)
    }
}
