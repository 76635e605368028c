target "m" {
  name   = "same"
  matrix = { v = ["one", "two"] }
}
