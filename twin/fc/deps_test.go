package fc_test

// testdata/fcfunc, the twin's test function, is built with aws-lambda-go;
// go mod tidy ignores testdata directories, and no other package imports
// the module since shared/aliyun/fcruntime decodes events itself, so this
// import keeps it required.
import _ "github.com/aws/aws-lambda-go/lambda"
