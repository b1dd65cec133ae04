import PetFaceKit
import PhotosUI
import SwiftUI
import UIKit

/// Two ways to get a photo: the camera, or the photo library. Either way the result is an upright
/// `RGBImage` with the EXIF orientation applied, as the Python runtime loads files, decoded at most
/// `PhotoIntake.maxDecodeSide` pixels on its longer side (a 48 MP photo would need ~0.5 GB at full size).
struct PhotoInput: View {
    let onPhoto: (RGBImage) -> Void
    @State private var showCamera = false
    @State private var item: PhotosPickerItem?
    @State private var problem: String?

    var body: some View {
        HStack {
            Button { showCamera = true } label: { Label("Camera", systemImage: "camera") }
                .buttonStyle(.borderedProminent)
                .disabled(!UIImagePickerController.isSourceTypeAvailable(.camera))
            PhotosPicker(selection: $item, matching: .images) { Label("Library", systemImage: "photo.on.rectangle") }
                .buttonStyle(.bordered)
        }
        .fullScreenCover(isPresented: $showCamera) {
            CameraPicker { image in
                Task { await deliver { try RGBImage(uiImage: image, maxPixelSize: PhotoIntake.maxDecodeSide) } }
            }
            .ignoresSafeArea()
        }
        .onChange(of: item) { _, picked in
            guard let picked else { return }
            item = nil
            Task {
                await deliver {
                    guard let data = try await picked.loadTransferable(type: Data.self) else {
                        throw AppError("the photo could not be loaded from the library")
                    }
                    return try RGBImage(encoded: data, maxPixelSize: PhotoIntake.maxDecodeSide)
                }
            }
        }
        .alert("Cannot use this photo", isPresented: Binding(get: { problem != nil }, set: { if !$0 { problem = nil } })) {
            Button("OK", role: .cancel) {}
        } message: {
            Text(problem ?? "")
        }
    }

    /// Decodes off the main thread, then hands the bounded image over.
    @MainActor
    private func deliver(_ decode: @escaping @Sendable () async throws -> RGBImage) async {
        do {
            onPhoto(try await Task.detached(priority: .userInitiated) { try await decode() }.value)
        } catch {
            problem = error.localizedDescription
        }
    }
}

/// `UIImagePickerController` with the camera: the simplest full-resolution still capture.
struct CameraPicker: UIViewControllerRepresentable {
    let onImage: (UIImage) -> Void
    @Environment(\.dismiss) private var dismiss

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = .camera
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: UIImagePickerController, context: Context) {}

    func makeCoordinator() -> Coordinator { Coordinator(self) }

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        let parent: CameraPicker

        init(_ parent: CameraPicker) { self.parent = parent }

        func imagePickerController(_ picker: UIImagePickerController,
                                   didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
            if let image = info[.originalImage] as? UIImage { parent.onImage(image) }
            parent.dismiss()
        }

        func imagePickerControllerDidCancel(_ picker: UIImagePickerController) {
            parent.dismiss()
        }
    }
}
