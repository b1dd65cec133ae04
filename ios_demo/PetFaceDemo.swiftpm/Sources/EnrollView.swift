import PetFaceKit
import SwiftUI

/// Name a pet and add several photos of it; each photo becomes one template in the gallery.
/// A photo is embedded as soon as it is picked: the screen keeps its thumbnail and embedding, never
/// its pixels, so typing the name redraws nothing large and a few 48 MP photos cannot exhaust memory.
struct EnrollView: View {
    @Environment(PetStore.self) private var store
    @State private var name = ""
    @State private var items: [EnrollItem] = []
    @State private var busy = false
    @State private var message: String?

    var body: some View {
        NavigationStack {
            Form {
                Section("Pet") {
                    TextField("Name", text: $name)
                        .textInputAutocapitalization(.words)
                }
                Section {
                    PhotoInput { photo in Task { await add(photo) } }
                    if busy { ProgressView("Embedding…") }
                    if !items.isEmpty {
                        ScrollView(.horizontal) {
                            HStack {
                                ForEach(items) { item in
                                    Thumbnail(image: item.thumbnail, warning: item.picked.detection.isFallback)
                                }
                            }
                        }
                    }
                } header: {
                    Text("Photos (\(items.count))")
                } footer: {
                    Text("Three or more photos with different poses and light make recognition more reliable."
                         + (store.latencyMillis.map { String(format: " Last photo: %.0f ms.", $0) } ?? ""))
                }
                Section {
                    Button("Enroll") { enroll() }
                        .disabled(busy || items.isEmpty || name.trimmingCharacters(in: .whitespaces).isEmpty)
                    if !items.isEmpty {
                        Button("Clear photos", role: .destructive) { items = [] }
                    }
                } footer: {
                    if let message { Text(message) }
                }
            }
            .navigationTitle("Enroll")
        }
    }

    private func add(_ photo: RGBImage) async {
        busy = true
        defer { busy = false }
        do {
            items.append(try await store.pick(photo))
        } catch {
            message = error.localizedDescription
        }
    }

    private func enroll() {
        do {
            let count = try store.enroll(name: name, items: items)
            message = "\(name) enrolled: \(count) photo\(count == 1 ? "" : "s") in the gallery."
            name = ""
            items = []
        } catch {
            message = error.localizedDescription
        }
    }
}

/// A picked photo's thumbnail; marked when no animal was found and the centred square was used.
struct Thumbnail: View {
    let image: UIImage?
    let warning: Bool

    var body: some View {
        ZStack(alignment: .topTrailing) {
            if let image {
                Image(uiImage: image).resizable().scaledToFill().frame(width: 72, height: 72)
                    .clipShape(RoundedRectangle(cornerRadius: 8))
            }
            if warning {
                Image(systemName: "viewfinder").foregroundStyle(.orange).padding(4)
            }
        }
    }
}

extension CropPolicy.Detection {
    /// No animal box: the photo's centred square was used.
    var isFallback: Bool {
        if case .found = self { return false }
        return true
    }

    /// What the identify screen says about the crop.
    var explanation: String {
        switch self {
        case .found: return "Vision found the animal; the square around it was used."
        case .notFound: return "No cat or dog found: the photo's centred square was used."
        case .failed(let why): return "Vision failed (\(why)): the photo's centred square was used."
        }
    }
}
