// Package exporter turns what a user asked for (--output, --load, --push,
// tags) into BuildKit export entries for one node, and finishes the exports
// BuildKit cannot do alone: streaming an archive into a Docker Engine's image
// store, writing files atomically, and recording the metadata file.
package exporter
