import SwiftUI

struct ContentView: View {
    @Environment(PetStore.self) private var store

    var body: some View {
        switch store.status {
        case .loading:
            ProgressView("Preparing the model…")
        case .failed(let message, let galleryProblem):
            ContentUnavailableView {
                Label(galleryProblem ? "Gallery not usable" : "No model", systemImage: "exclamationmark.triangle")
            } description: {
                Text(message)
            } actions: {
                if galleryProblem {
                    Button("Start a new gallery") { store.startNewGallery() }
                        .buttonStyle(.borderedProminent)
                }
            }
        case .ready:
            TabView {
                IdentifyView()
                    .tabItem { Label("Identify", systemImage: "magnifyingglass") }
                EnrollView()
                    .tabItem { Label("Enroll", systemImage: "plus.circle") }
                GalleryView()
                    .tabItem { Label("Gallery", systemImage: "pawprint") }
            }
        }
    }
}
