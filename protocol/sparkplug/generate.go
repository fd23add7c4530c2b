package sparkplug

// The generated code in spb/ is committed so that a build needs no protoc.
// Regenerating needs protoc (apt-get install protobuf-compiler) and
// protoc-gen-go at the version of google.golang.org/protobuf in go.mod
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).

//go:generate protoc --proto_path=spb --go_out=spb --go_opt=paths=source_relative sparkplug_b.proto
