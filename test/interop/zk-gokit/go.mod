module rxdisco.test/interop/zk-gokit

go 1.22

require (
	github.com/go-kit/kit v0.13.0
	github.com/go-kit/log v0.2.0
)

require (
	github.com/go-logfmt/logfmt v0.5.1 // indirect
	github.com/go-zookeeper/zk v1.0.2 // indirect
)
