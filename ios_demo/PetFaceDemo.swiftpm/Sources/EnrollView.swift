import PetFaceKit
import SwiftUI

/// Name a pet and add several photos of it; each photo becomes one template in the gallery.
struct EnrollView: View {
    @Environment(PetStore.self) private var store
    @State private var name = ""
    @State private var photos: [RGBImage] = []
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
                    PhotoInput { photos.append($0) }
                    if !photos.isEmpty {
                        ScrollView(.horizontal) {
                            HStack {
                                ForEach(photos.indices, id: \.self) { i in
                                    if let image = photos[i].makeUIImage() {
                                        Image(uiImage: image).resizable().scaledToFill().frame(width: 72, height: 72)
                                            .clipShape(RoundedRectangle(cornerRadius: 8))
                                    }
                                }
                            }
                        }
                    }
                } header: {
                    Text("Photos (\(photos.count))")
                } footer: {
                    Text("Three or more photos with different poses and light make recognition more reliable.")
                }
                Section {
                    Button(busy ? "Enrolling…" : "Enroll") { Task { await enroll() } }
                        .disabled(busy || photos.isEmpty || name.trimmingCharacters(in: .whitespaces).isEmpty)
                    if !photos.isEmpty {
                        Button("Clear photos", role: .destructive) { photos = [] }
                    }
                } footer: {
                    if let message { Text(message) }
                }
            }
            .navigationTitle("Enroll")
        }
    }

    private func enroll() async {
        busy = true
        defer { busy = false }
        do {
            let count = try await store.enroll(name: name, photos: photos)
            message = "\(name) enrolled: \(count) photo\(count == 1 ? "" : "s") in the gallery."
            name = ""
            photos = []
        } catch {
            message = error.localizedDescription
        }
    }
}
