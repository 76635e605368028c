target "app" {
  context = "."
  args = { A = "b"
}
