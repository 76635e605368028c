// Package store persists builder definitions in buildx's configuration
// folder and format (buildx v0.38.2): one NodeGroup file per builder under
// instances/, the current builder in current and defaults/, the last change
// in activity/. Builders made by `docker buildx create` are xbuild's and the
// other way round.
//
// Every change happens under the flock buildx takes (.lock in the folder),
// so xbuild and buildx commands serialize, and every file is replaced
// atomically. Keys of a builder file that xbuild does not know are written
// back unchanged; xbuild's own settings sit under one key buildx ignores.
//
// buildx's own store package is not used: decoding into its NodeGroup drops
// every key it does not know (xbuild's settings, a newer buildx's fields),
// its lock is exclusive only, and it needs a Docker CLI configuration.
package store
