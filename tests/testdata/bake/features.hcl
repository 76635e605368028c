# Every bake feature xbuild relies on, resolved by --print.
variable "TAG" { default = "dev" }
variable "FROM_ENV" { default = "unset" }
variable "REGISTRY" { default = "r.example" }

function "imagename" {
  params = [name, tag]
  result = "${REGISTRY}/${name}:${tag}"
}

group "default" { targets = ["app", "matrixed"] }

target "_common" {
  args   = { COMMON = "yes" }
  labels = { "org.example.team" = "builders" }
}

target "base" {
  dockerfile-inline = "FROM scratch\n"
}

target "app" {
  inherits    = ["_common"]
  context     = "ctx"
  dockerfile  = "app.Dockerfile"
  target      = "final"
  contexts    = { basectx = "target:base", other = "docker-image://busybox:1" }
  args        = { FROM_ENV = FROM_ENV, UPPER = upper("shout") }
  platforms   = ["linux/amd64", "linux/arm64"]
  tags        = [imagename("app", TAG)]
  annotations = ["index:org.opencontainers.image.title=app"]
  attest      = ["type=provenance,mode=max"]
  secret      = ["id=tok,env=TOKEN"]
  ssh         = ["default"]
  cache-from  = ["type=registry,ref=r.example/app:cache"]
  cache-to    = ["type=inline"]
  output      = ["type=docker"]
  no-cache    = true
  pull        = true
  network     = "host"
}

target "matrixed" {
  name   = "m-${item}"
  matrix = { item = ["one", "two"] }
  inherits = ["_common"]
  args   = { ITEM = item }
}
