// Package engine finds the Docker Engine a command talks to, the way the
// Docker CLI does (DOCKER_HOST, DOCKER_CONTEXT, the current context in the
// CLI's config), and opens API clients to it.
package engine
