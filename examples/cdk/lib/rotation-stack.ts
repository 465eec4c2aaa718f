import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The function's environment variables (all strings, as Lambda passes them). */
export interface RotationConfig {
  PASSWORD_LENGTH: string;
  EXCLUDE_CHARACTERS: string;
  EXCLUDE_LOWERCASE: string;
  EXCLUDE_UPPERCASE: string;
  EXCLUDE_NUMBERS: string;
  EXCLUDE_PUNCTUATION: string;
  REQUIRE_EACH_INCLUDED_TYPE: string;
  PASSWORD_RESET_REQUIRED: string;
  CREATE_LOGIN_PROFILE: string;
  REQUIRE_BINDING_TAG: string;
}

/** The function's own defaults (the same as template.yaml's parameters). */
export const DEFAULT_CONFIG: RotationConfig = {
  PASSWORD_LENGTH: '32',
  EXCLUDE_CHARACTERS: '',
  EXCLUDE_LOWERCASE: 'false',
  EXCLUDE_UPPERCASE: 'false',
  EXCLUDE_NUMBERS: 'false',
  EXCLUDE_PUNCTUATION: 'false',
  REQUIRE_EACH_INCLUDED_TYPE: 'true',
  PASSWORD_RESET_REQUIRED: 'false',
  CREATE_LOGIN_PROFILE: 'false',
  REQUIRE_BINDING_TAG: 'true',
};

export const BINDING_TAG = 'password-rotation:secret-arn';

export interface PasswordRotationStackProps extends cdk.StackProps {
  /** Directory holding `bootstrap` (cargo-lambda's output). */
  readonly codeDir: string;
  /** True when codeDir is the placeholder: warn that the function cannot start. */
  readonly placeholderCode: boolean;
  /** Explicit, so the role can name the function's ARN and log group without a cycle. */
  readonly functionName: string;
  readonly architecture: string;
  /** IAM path of the users the function may rotate, e.g. "/" or "/rotated/". */
  readonly userPath: string;
  /** Customer managed KMS key of the secrets; undefined = aws/secretsmanager. */
  readonly kmsKeyArn?: string;
  readonly config: RotationConfig;
  /** When set, create this example user, its bound secret and a 30-day rotation. */
  readonly exampleUserName?: string;
}

export class PasswordRotationStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: PasswordRotationStackProps) {
    super(scope, id, props);

    for (const [key, value] of Object.entries(props.config)) {
      if (/^(EXCLUDE_(LOWERCASE|UPPERCASE|NUMBERS|PUNCTUATION)|REQUIRE_.*|PASSWORD_RESET_REQUIRED|CREATE_LOGIN_PROFILE)$/.test(key)
        && value !== 'true' && value !== 'false') {
        throw new Error(`${key} must be true or false, got ${JSON.stringify(value)}`);
      }
    }
    const length = Number(props.config.PASSWORD_LENGTH);
    if (!Number.isInteger(length) || length < 1 || length > 128) {
      throw new Error(`PASSWORD_LENGTH must be a whole number 1-128, got ${props.config.PASSWORD_LENGTH}`);
    }
    if (!/^\/([A-Za-z0-9_+=,.@-]+\/)*$/.test(props.userPath)) {
      throw new Error(`userPath must be an IAM path such as / or /rotated/, got ${props.userPath}`);
    }
    if (!['arm64', 'x86_64'].includes(props.architecture)) {
      throw new Error(`architecture must be arm64 or x86_64, got ${props.architecture}`);
    }
    const createLoginProfile = props.config.CREATE_LOGIN_PROFILE === 'true';
    const requireBindingTag = props.config.REQUIRE_BINDING_TAG === 'true';
    if (props.exampleUserName && !createLoginProfile) {
      throw new Error('the example user has no console password until its first rotation: it needs CREATE_LOGIN_PROFILE=true');
    }

    // Built from the name, not fn.functionArn: the role would otherwise depend on the
    // function that depends on the role.
    const functionArn = this.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: props.functionName,
      arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME,
    });

    // Created before the function: retention from the first line, and the role can name it.
    const logGroup = new logs.LogGroup(this, 'FunctionLogGroup', {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });

    const usersUnderPath = this.formatArn({
      service: 'iam',
      region: '',
      resource: `user${props.userPath}*`,
      arnFormat: cdk.ArnFormat.NO_RESOURCE_NAME,
    });

    // With REQUIRE_BINDING_TAG=true, IAM itself refuses password writes to users without the
    // binding tag (defence in depth). IAM can test that the tag exists, not that it names the
    // secret: the function checks that.
    const writeConditions = requireBindingTag
      ? { Null: { [`aws:ResourceTag/${BINDING_TAG}`]: 'false' } }
      : undefined;

    const statements: iam.PolicyStatement[] = [
      // Secrets Manager: only secrets whose rotation function is this function.
      new iam.PolicyStatement({
        sid: 'RotateOnlySecretsThatNameThisFunction',
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        resources: [this.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: '*', arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME })],
        conditions: { StringEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': functionArn } },
      }),
      // IAM reads: the user's binding tag and login profile; users under the path only. No tag
      // condition: the function must read an untagged user to report BindingTagMissing.
      new iam.PolicyStatement({
        sid: 'ReadUsersUnderPath',
        actions: ['iam:GetUser', 'iam:GetLoginProfile'],
        resources: [usersUnderPath],
      }),
      // IAM write: set the password; with REQUIRE_BINDING_TAG=true, only of tagged users.
      new iam.PolicyStatement({
        sid: 'UpdateConsolePasswordsOfUsersUnderPath',
        actions: ['iam:UpdateLoginProfile'],
        resources: [usersUnderPath],
        conditions: writeConditions,
      }),
      // IAM: the account password policy is account-level: it has no ARN to scope to.
      new iam.PolicyStatement({
        sid: 'ReadAccountPasswordPolicy',
        actions: ['iam:GetAccountPasswordPolicy'],
        resources: ['*'],
      }),
      // CloudWatch Logs: this function's log group only.
      new iam.PolicyStatement({
        sid: 'WriteOwnLogGroupOnly',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    ];
    if (createLoginProfile) {
      // IAM: create a console password for a user who has none (CREATE_LOGIN_PROFILE=true only).
      statements.push(new iam.PolicyStatement({
        sid: 'CreateConsolePasswordsOfUsersUnderPath',
        actions: ['iam:CreateLoginProfile'],
        resources: [usersUnderPath],
        conditions: writeConditions,
      }));
    }
    if (props.kmsKeyArn) {
      // KMS: the secrets' customer managed key, only through Secrets Manager in this region.
      // Secrets Manager decrypts to read and makes a data key to write; it never calls kms:Encrypt.
      statements.push(new iam.PolicyStatement({
        sid: 'UseSecretsKeyThroughSecretsManagerOnly',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.kmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${this.region}.amazonaws.com` } },
      }));
    }

    // No managed policies (not even AWSLambdaBasicExecutionRole): only the statements above.
    const role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${props.functionName} password rotation function (least privilege)`,
      inlinePolicies: { 'password-rotation': new iam.PolicyDocument({ statements }) },
    });

    const fn = new lambda.Function(this, 'RotationFunction', {
      functionName: props.functionName,
      description: "Rotates IAM users' console passwords kept in AWS Secrets Manager",
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(props.codeDir),
      architecture: props.architecture === 'x86_64' ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64,
      memorySize: 128,
      // One SDK call exhausting its retries: 5 attempts x 10 s + <= 15 s backoff = 65 s, plus the step's other calls.
      timeout: cdk.Duration.seconds(90),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
      environment: { ...props.config },
    });
    fn.node.addDependency(logGroup);
    if (props.placeholderCode) {
      cdk.Annotations.of(fn).addWarningV2(
        'iam-password-rotation:placeholder-code',
        'No bootstrap in the cargo-lambda output directory: packaging placeholder-asset/, which cannot run. '
        + 'Run `cargo lambda build --release --arm64` at the repository root before deploying.',
      );
    }

    // Secrets Manager may invoke the function, for secrets of this account only.
    const permission = new lambda.CfnPermission(this, 'SecretsManagerInvokePermission', {
      action: 'lambda:InvokeFunction',
      functionName: fn.functionArn,
      principal: 'secretsmanager.amazonaws.com',
      sourceAccount: this.account,
    });

    new cdk.CfnOutput(this, 'FunctionArn', {
      value: fn.functionArn,
      description: 'ARN of the rotation function - pass it as --rotation-lambda-arn to rotate-secret',
    });

    if (props.exampleUserName) {
      const encryptionKey = props.kmsKeyArn ? kms.Key.fromKeyArn(this, 'SecretsKey', props.kmsKeyArn) : undefined;
      // No password: the first rotation generates one and creates the login profile.
      const secret = new secretsmanager.Secret(this, 'ExampleSecret', {
        description: `Console password of the IAM user ${props.exampleUserName}`,
        secretObjectValue: { username: cdk.SecretValue.unsafePlainText(props.exampleUserName) },
        encryptionKey,
      });
      // Named explicitly so the secret can name the user before the user (tagged with the
      // secret's ARN, which has a random suffix) exists.
      const user = new iam.User(this, 'ExampleUser', {
        userName: props.exampleUserName,
        path: props.userPath,
      });
      cdk.Tags.of(user).add(BINDING_TAG, secret.secretArn);

      // An imported reference, not `fn`: for a function defined in the same app,
      // addRotationSchedule also grants the role read/write on this secret and
      // secretsmanager:GetRandomPassword on "*", and adds an invoke permission without
      // SourceAccount - all beyond the least-privilege statements above.
      const rotationLambda = lambda.Function.fromFunctionAttributes(this, 'RotationFunctionRef', {
        functionArn: fn.functionArn,
        sameEnvironment: true,
      });
      const schedule = secret.addRotationSchedule('Rotation', {
        rotationLambda,
        automaticallyAfter: cdk.Duration.days(30),
      });
      // A 2-hour rotation window (no L2 property for it).
      (schedule.node.defaultChild as secretsmanager.CfnRotationSchedule).addPropertyOverride('RotationRules.Duration', '2h');
      // The first rotation starts at once: the function must be invocable and the user tagged.
      schedule.node.addDependency(permission, user, fn);

      new cdk.CfnOutput(this, 'ExampleSecretArn', { value: secret.secretArn });
      new cdk.CfnOutput(this, 'ExampleUserName', { value: user.userName });
    }
  }
}
