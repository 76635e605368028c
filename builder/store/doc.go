// Package store persists builder definitions under the xbuild configuration
// folder ($XBUILD_CONFIG, default ~/.xbuild). Every change happens under an
// exclusive file lock and every file is replaced atomically, so two xbuild
// processes never see or leave a half-written state.
package store
