import PetFaceKit
import SwiftUI
import UIKit

/// The enrolled pets on this device: rename, delete, and which model made them.
struct GalleryView: View {
    @Environment(PetStore.self) private var store
    @State private var renaming: String?
    @State private var newName = ""
    @State private var problem: String?

    var body: some View {
        NavigationStack {
            List {
                Section {
                    let pets = store.gallery?.names ?? []
                    if pets.isEmpty {
                        Text("No pets enrolled yet.")
                    }
                    ForEach(pets, id: \.self) { name in
                        PetRow(name: name, count: (try? store.gallery?.templates(of: name).count) ?? 0,
                               thumbnail: store.thumbnail(name))
                            .swipeActions {
                                Button("Delete", role: .destructive) { run { try store.remove(name) } }
                                Button("Rename") {
                                    newName = name
                                    renaming = name
                                }
                            }
                    }
                } footer: {
                    Text("Saved in \(store.galleryURL.lastPathComponent), the same file format as the petface command line.")
                }
                Section("Model") {
                    Text(store.modelSummary)
                    if let verification = store.verification {
                        Label(verification.label, systemImage: verification == .verified ? "checkmark.seal" : "exclamationmark.triangle")
                            .foregroundStyle(verification == .verified ? Color.secondary : Color.orange)
                    }
                    Picker("Compute units", selection: Binding(get: { store.computeUnits },
                                                               set: { choice in Task { await store.setComputeUnits(choice) } })) {
                        ForEach(ComputeUnitsChoice.allCases) { Text($0.label).tag($0) }
                    }
                    if let latency = store.latencyMillis {
                        Text(String(format: "Last photo: %.0f ms (detection, crop, resize, prediction)", latency))
                    }
                }
            }
            .navigationTitle("Gallery")
            .alert("Rename", isPresented: Binding(get: { renaming != nil }, set: { if !$0 { renaming = nil } })) {
                TextField("Name", text: $newName)
                Button("Rename") {
                    if let old = renaming { run { try store.rename(old, to: newName) } }
                }
                Button("Cancel", role: .cancel) {}
            }
            .alert("Cannot change the gallery", isPresented: Binding(get: { problem != nil }, set: { if !$0 { problem = nil } })) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(problem ?? "")
            }
        }
    }

    private func run(_ change: () throws -> Void) {
        do { try change() } catch { problem = error.localizedDescription }
    }
}

struct PetRow: View {
    let name: String
    let count: Int
    let thumbnail: UIImage?

    var body: some View {
        HStack(spacing: 12) {
            Group {
                if let thumbnail {
                    Image(uiImage: thumbnail).resizable().scaledToFill()
                } else {
                    Image(systemName: "pawprint.fill").foregroundStyle(.secondary)
                }
            }
            .frame(width: 44, height: 44)
            .clipShape(RoundedRectangle(cornerRadius: 6))
            Text(name)
            Spacer()
            Text("\(count) photo\(count == 1 ? "" : "s")").foregroundStyle(.secondary)
        }
    }
}
