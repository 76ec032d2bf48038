package main

// The collector release the modules in go.mod are pinned to; build-otelcol.sh reads it.
const version = "0.165.0"
