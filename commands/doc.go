// Package commands holds xbuild's command tree: one file per command, each
// parsing its flags into one validated request and making one call below.
// Only this package and main talk to the user.
package commands
