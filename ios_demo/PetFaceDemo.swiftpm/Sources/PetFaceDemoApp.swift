import SwiftUI

/// Enroll pets with a few photos, then recognize them offline: CoreML embeds, Vision finds the animal.
@main
struct PetFaceDemoApp: App {
    @State private var store = PetStore()

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environment(store)
                .task { await store.load() }
        }
    }
}
