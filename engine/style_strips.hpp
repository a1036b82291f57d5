// engine/style_strips.hpp — a style image's pass through VGG-19 in horizontal strips, for style images whose
// first feature maps would exceed the 2^31 values that cuDNN's descriptors and our kernels index (e.g. a
// portrait style at 7680 px wide), or whose whole-image pass would hold more than the output's optimization
// (a style much larger than the output). A Gram matrix is a sum over positions, so it adds up strip by strip; each strip runs its rows
// plus a halo above and below through the network and counts only the rows it owns. With a halo at least the
// receptive radius of the deepest style layer and strip edges on multiples of 16 (VGG-19's four poolings
// pair the same rows as in the whole image), every owned feature row equals the whole image's, up to the
// rounding of the sums: the strips' Grams equal one pass's.
#pragma once

#include <cstdint>
#include <vector>

namespace impasto {

struct StyleStrip {
  int begin = 0, end = 0;        // input rows [begin, end) whose features the strip owns
  int in_begin = 0, in_end = 0;  // input rows [in_begin, in_end) it runs through the network (owned + halos)
};

// Halo rows (a multiple of 16) for features up to conv index `deepest` (0 = conv1_1): at least the rows one
// feature row of that layer reads above and below it (each 3×3 conv adds one row of its level each side,
// each pooling one row of the level below it underneath).
int style_strip_halo(int deepest);

// The strips of an h×w style image for style layers down to conv index `deepest`. core_rows > 0 asks for
// strips that own that many rows (rounded up to a multiple of 16; tests). Otherwise one strip when the image
// fits a pass — conv1's maps (64·h·w values) within 2^31 and, when pass_pixels > 0, h·w within pass_pixels —
// else the tallest strips whose passes do; a strip owns at least twice its halo (a pass of 4 halos), so that
// the halos at most double the work (an image no taller than that goes through at once). One strip covers
// [0, h) whole. Throws when even a 16-row strip would pass 2^31 values (an image too wide).
std::vector<StyleStrip> style_strips(int h, int w, int deepest, int core_rows, std::int64_t pass_pixels = 0);

// The pixels a style image's pass may cover for an out_h×out_w output: 1.5× the output's. A style pass holds
// about 195 floats per pixel in strips (the forward-only plan's 128, a weighted feature copy's 64, the strip's 3;
// 131 at once), up to ~290 per output pixel, and the optimization about 215 (default taps) plus the optimizer's
// state (6·history + 9 with L-BFGS), so the style targets set a run's peak only for a short history, by little;
// the memory estimate counts every strip's plan either way.
std::int64_t style_pass_pixels(int out_h, int out_w);

// Poolings before conv index `conv`: a feature row r of that layer covers input rows [r·2^p, (r+1)·2^p).
int vgg19_pools_before(int conv);

}  // namespace impasto
