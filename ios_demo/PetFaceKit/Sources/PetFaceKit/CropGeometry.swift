import Foundation

/// Where to cut the model input out of a photo, as `petface_edge/runtime/detect.py` does.
public enum CropGeometry {
    /// Box grown by this fraction of its side on every side (the Python default: ears and chin carry identity).
    public static let defaultMargin = 0.2

    /// The square around `box`, grown by `margin` per side, kept inside the image: shifted (never squashed)
    /// to stay inside, shrunk only when larger than the image's shorter side. Python's `square_crop_box`,
    /// including its round-half-to-even.
    public static func squareCrop(around box: PixelRect, imageWidth: Int, imageHeight: Int,
                                  margin: Double = defaultMargin) -> PixelRect {
        var side = Int((Double(max(box.width, box.height)) * (1 + 2 * margin)).rounded(.toNearestOrEven))
        side = max(1, min(side, imageWidth, imageHeight))
        let cx = Double(box.x) + Double(box.width) / 2, cy = Double(box.y) + Double(box.height) / 2
        let x = min(max(Int((cx - Double(side) / 2).rounded(.toNearestOrEven)), 0), imageWidth - side)
        let y = min(max(Int((cy - Double(side) / 2).rounded(.toNearestOrEven)), 0), imageHeight - side)
        return PixelRect(x: x, y: y, width: side, height: side)
    }
}
