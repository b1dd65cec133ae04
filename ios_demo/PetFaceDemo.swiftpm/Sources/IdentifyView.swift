import PetFaceKit
import SwiftUI

/// Take or pick a photo; see the enrolled pets it resembles most, best first, with the verdict.
struct IdentifyView: View {
    @Environment(PetStore.self) private var store
    @State private var result: Identification?
    @State private var busy = false
    @State private var problem: String?

    var body: some View {
        NavigationStack {
            List {
                if let verification = store.verification, verification != .verified {
                    Section {
                        Label(verification.label, systemImage: "exclamationmark.triangle").foregroundStyle(.orange)
                    }
                }
                Section {
                    PhotoInput { photo in Task { await identify(photo) } }
                } footer: {
                    Text("Frame the face. Vision finds the cat or dog; the model compares it with every enrolled photo.")
                }
                if busy {
                    ProgressView("Identifying…")
                }
                if let problem {
                    Text(problem).foregroundStyle(.red)
                }
                if let result {
                    Section("What the model saw") {
                        CropView(result: result)
                    }
                    Section {
                        if result.matches.isEmpty {
                            Text("No pets enrolled yet: enroll one first.")
                        }
                        ForEach(result.matches, id: \.name) { match in
                            MatchRow(match: match)
                        }
                    } header: {
                        Text("Best matches")
                    } footer: {
                        Text(verdict(result) + String(format: " Computed in %.0f ms.", result.millis))
                    }
                }
            }
            .navigationTitle("Identify")
        }
    }

    private func verdict(_ result: Identification) -> String {
        guard let best = result.matches.first else { return "" }
        let point = result.operatingPoint
        let threshold = String(format: "%.3f", point.threshold)
            + " (FPIR \(point.target.map(DecisionTables.rateKey) ?? "-") at \(point.gallerySize ?? 0) photos)"
        return best.accepted
            ? "This is \(best.name) (score \(String(format: "%.3f", best.score)) ≥ threshold \(threshold))."
            : "Not an enrolled pet: no score reaches the threshold \(threshold)."
    }

    private func identify(_ photo: RGBImage) async {
        busy = true
        problem = nil
        defer { busy = false }
        do {
            result = try await store.identify(photo)
        } catch {
            result = nil
            problem = error.localizedDescription
        }
    }
}

struct MatchRow: View {
    let match: Match

    var body: some View {
        HStack {
            Image(systemName: match.accepted ? "checkmark.circle.fill" : "circle")
                .foregroundStyle(match.accepted ? .green : .secondary)
            Text(match.name)
            Spacer()
            Text(String(format: "%.3f", match.score)).monospacedDigit().foregroundStyle(.secondary)
        }
    }
}

/// The square the embedder received (as a thumbnail made once), and what Vision found.
struct CropView: View {
    let result: Identification

    var body: some View {
        HStack(spacing: 12) {
            if let image = result.thumbnail {
                Image(uiImage: image).resizable().scaledToFit().frame(width: 96, height: 96)
                    .clipShape(RoundedRectangle(cornerRadius: 8))
            }
            if let animal = result.animal {
                Text("Found a \(animal.species.rawValue) (\(Int((animal.confidence * 100).rounded())) %)")
            } else {
                Text(result.detection.explanation)
            }
        }
    }
}
