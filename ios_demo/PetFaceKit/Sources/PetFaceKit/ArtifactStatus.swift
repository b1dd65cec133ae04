import Foundation

/// What the manifest says about an artifact's verification, in the words the app shows.
public enum Verification: Equatable, Sendable {
    /// Verified against the PyTorch reference in its own runtime (`passed`).
    case verified
    /// Converted where it cannot run (CoreML exported on Linux: `not verifiable here`), so never compared.
    case notVerifiedOnThisOS
    /// Compared and found wrong, or not built (`failed parity`, `failed export`): never used.
    case failed(String)
    /// Any other status a newer exporter may write: treated as unverified.
    case unverified(String)

    public init(status: String) {
        switch status {
        case "passed": self = .verified
        case "not verifiable here": self = .notVerifiedOnThisOS
        case let s where s.hasPrefix("failed"): self = .failed(s)
        default: self = .unverified(status)
        }
    }

    /// One line for the app's model card.
    public var label: String {
        switch self {
        case .verified:
            return "Verified against PyTorch (parity passed)."
        case .notVerifiedOnThisOS:
            return "Not verified on this OS: this CoreML model was exported where CoreML cannot run, so it was never "
                + "compared with PyTorch. Run `petface-verify EXPORT_DIR` on a Mac and add the model again."
        case .failed(let status):
            return "Failed verification (\(status)): do not use."
        case .unverified(let status):
            return "Not verified (status '\(status)')."
        }
    }
}

extension Artifact {
    public var verification: Verification { Verification(status: status) }
}
