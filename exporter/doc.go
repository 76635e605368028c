// Package exporter turns what a user asked for (--output, --load, --push,
// tags) into BuildKit export entries for one node, and finishes the exports
// BuildKit cannot do alone: streaming an archive into a Docker Engine's image
// store, writing files atomically, recording the metadata file, and joining the
// images several nodes export for one build into one index.
package exporter
