import Foundation

/// Finds the bundled model folder without `Bundle.module`.
///
/// In an app package (`.swiftpm`) the generated `Bundle.module` looks for the target's resource bundle
/// in places that differ between Swift Playgrounds and Xcode, and stops the app with `fatalError` when
/// it is elsewhere. This looks in every place either puts resources: the folder itself in a bundle's
/// resources, or inside a SwiftPM resource bundle (`*.bundle`) there, on iOS and macOS layouts.
public enum ModelLocator {
    /// The first `name` folder holding a `manifest.json` under any of `roots` (bundle or resource URLs).
    public static func folder(named name: String = "Model", in roots: [URL]) -> URL? {
        let files = FileManager.default
        for root in roots {
            var places = [root, root.appendingPathComponent("Contents/Resources")]
            let children = (try? files.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []
            for bundle in children.filter({ $0.pathExtension == "bundle" }).sorted(by: { $0.path < $1.path }) {
                places += [bundle, bundle.appendingPathComponent("Contents/Resources")]
            }
            for place in places {
                let folder = place.appendingPathComponent(name, isDirectory: true)
                if files.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) { return folder }
            }
        }
        return nil
    }

    /// The places an app's resources can be: the main bundle and every loaded bundle.
    public static func bundleRoots(main: Bundle = .main, others: [Bundle] = Bundle.allBundles) -> [URL] {
        var roots: [URL] = []
        for bundle in [main] + others {
            for url in [bundle.resourceURL, bundle.bundleURL].compactMap({ $0 }) where !roots.contains(url) {
                roots.append(url)
            }
        }
        return roots
    }
}
