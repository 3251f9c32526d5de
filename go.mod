module github.com/snakepit-wasm/snakepit

go 1.26

require (
	github.com/stretchr/testify v1.12.1
	github.com/tetratelabs/wazero v1.12.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.44.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
