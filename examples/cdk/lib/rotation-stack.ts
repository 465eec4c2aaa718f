import * as cdk from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as securityhub from 'aws-cdk-lib/aws-securityhub';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BINDING_TAG, EnrolledUser } from './enrolled-user';

export { BINDING_TAG, EnrolledUser, EnrolledUserProps } from './enrolled-user';

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

/** The tag a credentials secret of the self-service strategy carries, valued the function's name. */
export const CREDENTIALS_TAG = 'password-rotation:credentials-for';

/** How setSecret may apply a password (docs/self-service.md): template.yaml's parameters. */
export interface StrategyOptions {
  /** The function's own iam:UpdateLoginProfile (+ CreateLoginProfile); false = no IAM write at all (UpdateLoginProfileStrategy). */
  readonly updateLoginProfile: boolean;
  /** The user's own ChangePassword: read the credentials secrets tagged for this function (SelfServiceStrategy). */
  readonly selfService: boolean;
}

/** template.yaml's defaults: UpdateLoginProfile only. */
export const DEFAULT_STRATEGIES: StrategyOptions = {
  updateLoginProfile: true,
  selfService: false,
};

/** Event-triggered resets (docs/resets.md): the same options as template.yaml's parameters. */
export interface ResetOptions {
  /** A bus <functionName>-resets for "IAM Password Reset Requested" events (OnDemandResets). */
  readonly onDemand: boolean;
  /** Principals that alone may put events on the reset bus; required with onDemand (OnDemandSenderArns). */
  readonly onDemandSenderArns: string[];
  /** The Security Hub custom action "Reset console pwd" (SecurityHubResets). */
  readonly securityHub: boolean;
  /** Reset after successful console sign-ins (BreakGlassResets). */
  readonly breakGlass: boolean;
  /** Reset after secret reads (CheckoutResets). */
  readonly checkout: boolean;
  /** Only reads of secrets whose name starts with this; '' = every secret (CheckoutSecretNamePrefix). */
  readonly checkoutSecretNamePrefix: string;
  /** Rotate when a console password is changed outside the function (DriftRepair). */
  readonly drift: boolean;
  /** RESET_DELAY_MINUTES, 1-1440 (ResetDelayMinutes). */
  readonly delayMinutes: number;
  /** RESET_MIN_INTERVAL_MINUTES, 0-1440 (ResetMinIntervalMinutes). */
  readonly minIntervalMinutes: number;
  /** RESET_DRY_RUN (ResetDryRun). */
  readonly dryRun: boolean;
  /** OUTCOME_EVENT_BUS: a bus name of this account and region, or '' for none (OutcomeEventBusName). */
  readonly outcomeEventBusName: string;
}

/** template.yaml's defaults: no trigger (on-demand resets need their senders named). */
export const DEFAULT_RESETS: ResetOptions = {
  onDemand: false,
  onDemandSenderArns: [],
  securityHub: false,
  breakGlass: false,
  checkout: false,
  checkoutSecretNamePrefix: '',
  drift: false,
  delayMinutes: 60,
  minIntervalMinutes: 15,
  dryRun: false,
  outcomeEventBusName: '',
};

/** The audit (docs/organizations.md): the same options as template.yaml's parameters. */
export interface AuditOptions {
  /** EventBridge Scheduler expression of the audit; '' = no audit, no audit permission (AuditSchedule). */
  readonly schedule: string;
  /** AUDIT_ACCOUNTS: comma-separated account ids, '' = the organisation's (or this account) (AuditAccounts). */
  readonly accounts: string;
  /** AUDIT_RESET_DRIFT: start a reset for each drifted user (AuditResetDrift). */
  readonly resetDrift: boolean;
}

/** template.yaml's defaults: a daily audit that reports only. */
export const DEFAULT_AUDIT: AuditOptions = {
  schedule: 'rate(1 day)',
  accounts: '',
  resetDrift: false,
};

/** Organisations (docs/organizations.md): the same options as template.yaml's parameters. */
export interface OrganizationOptions {
  /** The organisation whose member accounts the function serves; '' = this account only (OrganizationId). */
  readonly organizationId: string;
  /** MEMBER_ROLE_NAME: the role member-role.yaml creates in each member account (MemberRoleName). */
  readonly memberRoleName: string;
  /** MEMBER_EXTERNAL_ID; '' = the organisation's id (MemberExternalId). */
  readonly memberExternalId: string;
}

/** template.yaml's defaults: this account only. */
export const DEFAULT_ORGANIZATION: OrganizationOptions = {
  organizationId: '',
  memberRoleName: 'iam-password-rotation-member',
  memberExternalId: '',
};

/** What the audit schedule sends the function (docs/organizations.md), as template.yaml writes it. */
export const AUDIT_REQUEST_INPUT = '{"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}';

/** The rules' event patterns, the same as template.yaml's and forwarding.yaml's. */
export const RESET_EVENT_PATTERNS = {
  onDemand: {
    'source': ['iam-password-rotation'],
    'detail-type': ['IAM Password Reset Requested'],
  },
  consoleSignIn: {
    'source': ['aws.signin'],
    'detail-type': ['AWS Console Sign In via CloudTrail'],
    'detail': {
      eventName: ['ConsoleLogin'],
      userIdentity: { type: ['IAMUser'] },
      responseElements: { ConsoleLogin: ['Success'] },
    },
  },
  /** What forwarding.yaml forwards: successful reads (the rule below narrows them further). */
  secretRead: {
    'source': ['aws.secretsmanager'],
    'detail-type': ['AWS API Call via CloudTrail'],
    'detail': { eventName: ['GetSecretValue'], errorCode: [{ exists: false }] },
  },
  /** Successful calls; ChangePassword only by an IAM user (its caller is its subject). */
  drift: {
    'source': ['aws.iam'],
    'detail-type': ['AWS API Call via CloudTrail'],
    'detail': {
      'eventSource': ['iam.amazonaws.com'],
      'errorCode': [{ exists: false }],
      '$or': [
        { eventName: ['UpdateLoginProfile', 'CreateLoginProfile', 'DeleteLoginProfile'] },
        { eventName: ['ChangePassword'], userIdentity: { type: ['IAMUser'] } },
      ],
    },
  },
};

/**
 * The secret-read rule's pattern: successful reads by anyone but the function's role
 * (anything-but never matches a missing field, hence the first branch for callers without a
 * role session) and, with a prefix, only of secrets under it, by name or by ARN.
 */
export function secretReadPattern(functionRoleArn: string, secretNamePrefix: string): object {
  return {
    ...RESET_EVENT_PATTERNS.secretRead,
    detail: {
      ...RESET_EVENT_PATTERNS.secretRead.detail,
      '$or': [
        { userIdentity: { type: [{ 'anything-but': 'AssumedRole' }] } },
        { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': functionRoleArn }] } } } },
      ],
      ...(secretNamePrefix === '' ? {} : {
        requestParameters: {
          secretId: [{ prefix: secretNamePrefix }, { wildcard: `arn:*:secretsmanager:*:secret:${secretNamePrefix}*` }],
        },
      }),
    },
  };
}

export interface PasswordRotationStackProps extends cdk.StackProps {
  /** Directory holding `bootstrap` (cargo-lambda's output). */
  readonly codeDir: string;
  /** True when codeDir is the placeholder: warn that the function cannot start. */
  readonly placeholderCode: boolean;
  /** Explicit, so the role can name the function's ARN and log group without a cycle. */
  readonly functionName: string;
  readonly architecture: string;
  /** Level of the function's JSON logs: TRACE, DEBUG, INFO, WARN, ERROR or FATAL (default INFO). */
  readonly applicationLogLevel?: string;
  /** Level of Lambda's platform lines: DEBUG, INFO or WARN (default INFO). */
  readonly systemLogLevel?: string;
  /** Retention of the function's log group, one of CloudWatch Logs' values (default 90). */
  readonly logRetentionInDays?: number;
  /** IAM path of the users the function may rotate, e.g. "/" or "/rotated/". */
  readonly userPath: string;
  /** Customer managed KMS key of the secrets; undefined = aws/secretsmanager. */
  readonly kmsKeyArn?: string;
  readonly config: RotationConfig;
  /** When set, create this example user, its bound secret and a 30-day rotation. */
  readonly exampleUserName?: string;
  /** Event-triggered resets; DEFAULT_RESETS when absent. */
  readonly resets?: ResetOptions;
  /** The strategies the role allows; DEFAULT_STRATEGIES when absent. */
  readonly strategies?: StrategyOptions;
  /** The reconciliation audit; DEFAULT_AUDIT when absent. */
  readonly audit?: AuditOptions;
  /** The organisation's member accounts; DEFAULT_ORGANIZATION (none) when absent. */
  readonly organization?: OrganizationOptions;
}

export class PasswordRotationStack extends cdk.Stack {
  /** The function's unqualified ARN: what secrets name as their rotation function. */
  readonly functionArn: string;

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
    // At most 57 characters: the reset schedule group is <functionName>-resets (64 at most).
    if (!/^[a-zA-Z0-9_-]{1,57}$/.test(props.functionName)) {
      throw new Error(`functionName must be 1-57 letters, digits, - or _, got ${props.functionName}`);
    }
    if (!['arm64', 'x86_64'].includes(props.architecture)) {
      throw new Error(`architecture must be arm64 or x86_64, got ${props.architecture}`);
    }
    const applicationLogLevel = props.applicationLogLevel ?? 'INFO';
    if (!['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].includes(applicationLogLevel)) {
      throw new Error(`applicationLogLevel must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL, got ${applicationLogLevel}`);
    }
    const systemLogLevel = props.systemLogLevel ?? 'INFO';
    if (!['DEBUG', 'INFO', 'WARN'].includes(systemLogLevel)) {
      throw new Error(`systemLogLevel must be DEBUG, INFO or WARN, got ${systemLogLevel}`);
    }
    const retention = props.logRetentionInDays ?? 90;
    if (!(Object.values(logs.RetentionDays) as number[]).includes(retention) || retention === logs.RetentionDays.INFINITE) {
      throw new Error(`logRetentionInDays must be one of CloudWatch Logs' retention periods (1, 3, 5, 7, 14, 30, 60, 90, ...), got ${retention}`);
    }
    const createLoginProfile = props.config.CREATE_LOGIN_PROFILE === 'true';
    const requireBindingTag = props.config.REQUIRE_BINDING_TAG === 'true';
    const strategies = props.strategies ?? DEFAULT_STRATEGIES;
    // As template.yaml's rules: without the UpdateLoginProfile strategy the role has no IAM
    // write permission, iam:CreateLoginProfile included.
    if (!strategies.updateLoginProfile && props.exampleUserName) {
      throw new Error('the example user gets its first console password from CreateLoginProfile, which updateLoginProfileStrategy=false does not grant: also pass -c createExample=false');
    }
    if (!strategies.updateLoginProfile && createLoginProfile) {
      throw new Error('createLoginProfile=true requires updateLoginProfileStrategy=true (false grants no IAM write, iam:CreateLoginProfile included)');
    }
    if (props.exampleUserName && !createLoginProfile) {
      throw new Error('the example user has no console password until its first rotation: it needs -c createLoginProfile=true (as CreateExample=true needs CreateLoginProfile=true)');
    }
    const resets = props.resets ?? DEFAULT_RESETS;
    if (!Number.isInteger(resets.delayMinutes) || resets.delayMinutes < 1 || resets.delayMinutes > 1440) {
      throw new Error(`resetDelayMinutes must be a whole number 1-1440, got ${resets.delayMinutes}`);
    }
    if (!Number.isInteger(resets.minIntervalMinutes) || resets.minIntervalMinutes < 0 || resets.minIntervalMinutes > 1440) {
      throw new Error(`resetMinIntervalMinutes must be a whole number 0-1440, got ${resets.minIntervalMinutes}`);
    }
    if (!/^[A-Za-z0-9._-]{0,256}$/.test(resets.outcomeEventBusName)) {
      throw new Error(`outcomeEventBusName must be an event bus name (not an ARN), got ${resets.outcomeEventBusName}`);
    }
    if (!/^[A-Za-z0-9\/_+=.@-]{0,256}$/.test(resets.checkoutSecretNamePrefix)) {
      throw new Error(`checkoutSecretNamePrefix must be the start of a secret name (letters, digits and /_+=.@-), got ${resets.checkoutSecretNamePrefix}`);
    }
    if (resets.onDemand && resets.onDemandSenderArns.length === 0) {
      throw new Error('onDemandResets=true requires onDemandSenderArns (the roles or users that alone may put reset requests on the reset bus)');
    }
    for (const arn of resets.onDemandSenderArns) {
      if (!/^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)\/[\w+=,.@\/-]+$/.test(arn)) {
        throw new Error(`onDemandSenderArns must be IAM role or user ARNs, got ${arn}`);
      }
    }
    // As template.yaml's parameters and rules: the audit and the organisation.
    const audit = props.audit ?? DEFAULT_AUDIT;
    const organization = props.organization ?? DEFAULT_ORGANIZATION;
    if (!/^(|rate\(.+\)|cron\(.+\))$/.test(audit.schedule)) {
      throw new Error(`auditSchedule must be rate(...), cron(...) or empty, got ${audit.schedule}`);
    }
    if (!/^([0-9]{12}(,[0-9]{12})*)?$/.test(audit.accounts)) {
      throw new Error(`auditAccounts must be comma-separated 12-digit account ids, got ${audit.accounts}`);
    }
    if (!/^(|o-[a-z0-9]{10,32})$/.test(organization.organizationId)) {
      throw new Error(`organizationId must be an organisation id (o-...) or empty, got ${organization.organizationId}`);
    }
    if (!/^[A-Za-z0-9_+=,.@-]{1,64}$/.test(organization.memberRoleName)) {
      throw new Error(`memberRoleName must be a role name, got ${organization.memberRoleName}`);
    }
    if (!/^(|[A-Za-z0-9_+=,.@:\/-]{2,1224})$/.test(organization.memberExternalId)) {
      throw new Error('memberExternalId must be 2-1224 of letters, digits and +=,.@:/_- (or empty)');
    }
    const auditOn = audit.schedule !== '';
    const crossAccount = organization.organizationId !== '';
    if (audit.resetDrift && !auditOn) {
      throw new Error('auditResetDrift=true requires an auditSchedule (empty turns the audit off)');
    }
    if (audit.accounts !== '' && !crossAccount) {
      throw new Error('auditAccounts requires organizationId (without it the audit covers this account only)');
    }
    const memberExternalId = organization.memberExternalId || organization.organizationId;
    // Every trigger may need the scheduler (delayed resets, retries) and RotateSecret; so do
    // the resets the audit starts for drifted users.
    const anyTrigger = resets.onDemand || resets.securityHub || resets.breakGlass || resets.checkout || resets.drift
      || (auditOn && audit.resetDrift);
    const scheduleGroupName = `${props.functionName}-resets`;

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
      retention: retention as logs.RetentionDays,
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
    if (strategies.updateLoginProfile) {
      // IAM write: set the password; with REQUIRE_BINDING_TAG=true, only of tagged users.
      // Only with the UpdateLoginProfile strategy.
      statements.push(new iam.PolicyStatement({
        sid: 'UpdateConsolePasswordsOfUsersUnderPath',
        actions: ['iam:UpdateLoginProfile'],
        resources: [usersUnderPath],
        conditions: writeConditions,
      }));
    }
    if (createLoginProfile) {
      // IAM: create a console password for a user who has none (CREATE_LOGIN_PROFILE=true only).
      statements.push(new iam.PolicyStatement({
        sid: 'CreateConsolePasswordsOfUsersUnderPath',
        actions: ['iam:CreateLoginProfile'],
        resources: [usersUnderPath],
        conditions: writeConditions,
      }));
    }
    if (strategies.selfService) {
      // Self-service strategy: read the credentials secret a rotated secret names (the user's
      // own access key), only secrets tagged for this function. The KMS statement, when
      // there is one, decrypts them too.
      statements.push(new iam.PolicyStatement({
        sid: 'ReadChangePasswordCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: '*', arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME })],
        conditions: { StringEquals: { [`secretsmanager:ResourceTag/${CREDENTIALS_TAG}`]: props.functionName } },
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

    // Every asynchronous path ends in this queue when its retries are spent: rule targets,
    // schedules and Lambda's own asynchronous retries (docs/runbook.md#dead-letter-queue).
    const deadLetterQueue = new sqs.CfnQueue(this, 'DeadLetterQueue', {
      sqsManagedSseEnabled: true,
      messageRetentionPeriod: 1209600,
    });
    const asyncDelivery = {
      deadLetterConfig: { arn: deadLetterQueue.attrArn },
      retryPolicy: { maximumRetryAttempts: 20, maximumEventAgeInSeconds: 3600 },
    };
    const sendToDeadLetterQueue = (sid: string) => new iam.PolicyStatement({
      sid,
      actions: ['sqs:SendMessage'],
      resources: [deadLetterQueue.attrArn],
    });
    statements.push(sendToDeadLetterQueue('SendFailedInvocationsToDeadLetterQueue'));

    // Event-triggered resets: the schedule group and the role EventBridge Scheduler assumes
    // to invoke the function (trusted for this account's reset group only, allowed only to
    // invoke this function), and the function's own statements to start rotations.
    let scheduleGroup: scheduler.CfnScheduleGroup | undefined;
    let schedulerRole: iam.Role | undefined;
    if (anyTrigger) {
      scheduleGroup = new scheduler.CfnScheduleGroup(this, 'ResetScheduleGroup', { name: scheduleGroupName });
      schedulerRole = new iam.Role(this, 'SchedulerRole', {
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
          StringEquals: { 'aws:SourceAccount': this.account, 'aws:SourceArn': scheduleGroup.attrArn },
        }),
        description: `EventBridge Scheduler invokes ${props.functionName} for delayed password resets`,
        inlinePolicies: {
          'invoke-rotation-function': new iam.PolicyDocument({
            statements: [new iam.PolicyStatement({
              sid: 'InvokeThisFunctionOnly',
              actions: ['lambda:InvokeFunction'],
              resources: [functionArn],
            }), sendToDeadLetterQueue('SendUndeliveredToDeadLetterQueue')],
          }),
        },
      });
      statements.push(
        // Start a rotation and tell whether one started after the trigger: only secrets
        // whose rotation function is this function.
        new iam.PolicyStatement({
          sid: 'StartRotationsOfSecretsThatNameThisFunction',
          actions: ['secretsmanager:RotateSecret', 'secretsmanager:ListSecretVersionIds'],
          resources: [this.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: '*', arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME })],
          conditions: { StringEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': functionArn } },
        }),
        // RotateSecret requires that its caller may invoke the rotation function.
        new iam.PolicyStatement({
          sid: 'InvokeThisFunctionToStartRotations',
          actions: ['lambda:InvokeFunction'],
          resources: [functionArn],
        }),
        // One-time schedules in the stack's own group only.
        new iam.PolicyStatement({
          sid: 'ManageSchedulesInOwnResetGroupOnly',
          actions: ['scheduler:CreateSchedule', 'scheduler:GetSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule'],
          resources: [this.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${scheduleGroupName}/*` })],
        }),
        // The schedules' role, passed to EventBridge Scheduler only.
        new iam.PolicyStatement({
          sid: 'PassSchedulerRoleToSchedulerOnly',
          actions: ['iam:PassRole'],
          resources: [schedulerRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        }),
      );
    }
    if (resets.outcomeEventBusName) {
      // Outcome events: only to the named bus.
      statements.push(new iam.PolicyStatement({
        sid: 'PutOutcomeEventsOnOutcomeBusOnly',
        actions: ['events:PutEvents'],
        resources: [this.formatArn({ service: 'events', resource: 'event-bus', resourceName: resets.outcomeEventBusName })],
      }));
    }

    if (auditOn) {
      // The audit: the credential report, the users with their tags, and the secrets'
      // metadata (never a value). All account-level: no ARN to scope them to.
      statements.push(
        new iam.PolicyStatement({
          sid: 'ReadCredentialReport',
          actions: ['iam:GenerateCredentialReport', 'iam:GetCredentialReport', 'iam:GetAccountAuthorizationDetails'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'ListSecrets',
          actions: ['secretsmanager:ListSecrets'],
          resources: ['*'],
        }),
      );
    }
    if (crossAccount) {
      // The member role of any account, but only of an account of this organisation.
      statements.push(new iam.PolicyStatement({
        sid: 'AssumeMemberRolesInOrganizationOnly',
        actions: ['sts:AssumeRole'],
        resources: [`arn:${this.partition}:iam::*:role/${organization.memberRoleName}`],
        conditions: { StringEquals: { 'aws:ResourceOrgID': organization.organizationId } },
      }));
      if (auditOn) {
        // The audit of several accounts: one asynchronous invocation of this function per account.
        statements.push(new iam.PolicyStatement({
          sid: 'InvokeThisFunctionToAuditEachAccount',
          actions: ['lambda:InvokeFunction'],
          resources: [functionArn],
        }));
      }
      if (auditOn && audit.accounts === '') {
        // The organisation's accounts, for an audit of all of them, and whether one is among them.
        statements.push(new iam.PolicyStatement({
          sid: 'ListOrganizationAccounts',
          actions: ['organizations:ListAccounts', 'organizations:DescribeAccount'],
          resources: ['*'],
        }));
      }
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
      applicationLogLevelV2: applicationLogLevel as lambda.ApplicationLogLevel,
      systemLogLevelV2: systemLogLevel as lambda.SystemLogLevel,
      environment: {
        ...props.config,
        RESET_DRY_RUN: String(resets.dryRun),
        RESET_DELAY_MINUTES: String(resets.delayMinutes),
        RESET_MIN_INTERVAL_MINUTES: String(resets.minIntervalMinutes),
        OUTCOME_EVENT_BUS: resets.outcomeEventBusName,
        // Set by the stack: the function's own calls are never drift or checkouts, and delayed
        // resets and retries go through the stack's schedule group.
        FUNCTION_ROLE_ARN: role.roleArn,
        SCHEDULE_GROUP: scheduleGroup ? scheduleGroup.ref : '',
        SCHEDULER_ROLE_ARN: schedulerRole ? schedulerRole.roleArn : '',
        SCHEDULE_DEAD_LETTER_ARN: anyTrigger ? deadLetterQueue.attrArn : '',
        // The audit and the organisation (docs/organizations.md); empty = unset.
        AUDIT_ACCOUNTS: audit.accounts,
        AUDIT_RESET_DRIFT: String(audit.resetDrift),
        USER_PATH: props.userPath,
        MEMBER_ROLE_NAME: crossAccount ? organization.memberRoleName : '',
        MEMBER_EXTERNAL_ID: crossAccount ? memberExternalId : '',
      },
    });
    fn.node.addDependency(logGroup);
    // Asynchronous invocations: two retries within six hours, then the dead-letter queue
    // (L1, so that the role gets no second policy: its statement is above).
    (fn.node.defaultChild as lambda.CfnFunction).deadLetterConfig = { targetArn: deadLetterQueue.attrArn };
    new lambda.CfnEventInvokeConfig(this, 'RotationFunctionEventInvokeConfig', {
      functionName: fn.functionName,
      qualifier: '$LATEST',
      maximumRetryAttempts: 2,
      maximumEventAgeInSeconds: 21600,
    });
    this.functionArn = fn.functionArn;
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
    // What the enrolment command (scripts/enrolment.py --stack) reads, as it reads the SAM
    // stack's parameters of the same names.
    new cdk.CfnOutput(this, 'UserPath', { value: props.userPath, description: 'IAM path of the users the function may rotate' });
    new cdk.CfnOutput(this, 'CreateLoginProfile', {
      value: props.config.CREATE_LOGIN_PROFILE,
      description: 'Whether the function gives users without a console password one',
    });
    new cdk.CfnOutput(this, 'FunctionRoleArn', {
      value: role.roleArn,
      description: "ARN of the function's execution role - member-role.yaml's CentralRoleArn",
    });
    if (crossAccount) {
      new cdk.CfnOutput(this, 'MemberExternalId', {
        value: memberExternalId,
        description: "The external id the function gives member roles - member-role.yaml's ExternalId",
      });
    }

    // The audit: a recurring schedule in its own group, with its own role (trusted by
    // Scheduler for this account's audit group only, allowed only to invoke this function).
    if (auditOn) {
      const auditGroup = new scheduler.CfnScheduleGroup(this, 'AuditScheduleGroup', { name: `${props.functionName}-audit` });
      const auditRole = new iam.Role(this, 'AuditSchedulerRole', {
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
          StringEquals: { 'aws:SourceAccount': this.account, 'aws:SourceArn': auditGroup.attrArn },
        }),
        description: `EventBridge Scheduler invokes ${props.functionName} for its reconciliation audit`,
        inlinePolicies: {
          'invoke-rotation-function': new iam.PolicyDocument({
            statements: [new iam.PolicyStatement({
              sid: 'InvokeThisFunctionOnly',
              actions: ['lambda:InvokeFunction'],
              resources: [functionArn],
            }), sendToDeadLetterQueue('SendUndeliveredToDeadLetterQueue')],
          }),
        },
      });
      new scheduler.CfnSchedule(this, 'AuditInvocationSchedule', {
        name: 'audit',
        groupName: auditGroup.ref,
        description: `Reconciliation audit of the console passwords ${props.functionName} rotates`,
        scheduleExpression: audit.schedule,
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: { arn: fn.functionArn, roleArn: auditRole.roleArn, input: AUDIT_REQUEST_INPUT, ...asyncDelivery },
      });
    }

    // ---- Event-triggered resets: one rule per trigger, each with its own invoke permission
    // whose SourceArn is that rule (L1 constructs, as in template.yaml: the L2 Rule has no
    // ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS state).
    const ruleArns: string[] = [];
    const resetRule = (id: string, description: string, eventPattern: object, options: { eventBusName?: string; state?: string } = {}) => {
      const rule = new events.CfnRule(this, `${id}Rule`, {
        description,
        eventBusName: options.eventBusName,
        state: options.state ?? 'ENABLED',
        eventPattern,
        targets: [{ id: 'RotationFunction', arn: fn.functionArn, ...asyncDelivery }],
      });
      new lambda.CfnPermission(this, `${id}InvokePermission`, {
        action: 'lambda:InvokeFunction',
        functionName: fn.functionArn,
        principal: 'events.amazonaws.com',
        sourceArn: rule.attrArn,
      });
      ruleArns.push(rule.attrArn);
      return rule;
    };

    if (resets.onDemand) {
      // A dedicated bus: who may ask for a reset is this bus's policy alone.
      const bus = new events.CfnEventBus(this, 'ResetEventBus', {
        name: `${props.functionName}-resets`,
        description: `On-demand password resets for ${props.functionName} (IAM Password Reset Requested)`,
      });
      const senders = resets.onDemandSenderArns;
      const allowSenders = new events.CfnEventBusPolicy(this, 'ResetEventBusSendersPolicy', {
        eventBusName: bus.ref,
        statementId: 'AllowOnDemandResetSenders',
        statement: {
          Effect: 'Allow',
          Principal: { AWS: senders },
          Action: 'events:PutEvents',
          Resource: bus.attrArn,
        },
      });
      // One statement at a time: each EventBusPolicy rewrites the bus's whole policy.
      const denyOthers = new events.CfnEventBusPolicy(this, 'ResetEventBusOnlySendersPolicy', {
        eventBusName: bus.ref,
        statementId: 'DenyEveryoneButOnDemandResetSenders',
        statement: {
          Effect: 'Deny',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: bus.attrArn,
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': senders } },
        },
      });
      denyOthers.addDependency(allowSenders);
      resetRule('OnDemandReset', 'On-demand password reset requests for the rotation function', RESET_EVENT_PATTERNS.onDemand, { eventBusName: bus.ref });
      new cdk.CfnOutput(this, 'ResetEventBusArn', { value: bus.attrArn });
    }
    if (resets.securityHub) {
      // The rule matches the action's ARN, as template.yaml's does (which creates the action
      // only where CloudFormation offers its type).
      const actionArn = `arn:${this.partition}:securityhub:${this.region}:${this.account}:action/custom/ResetConsolePwd`;
      new securityhub.CfnActionTarget(this, 'SecurityHubActionTarget', {
        name: 'Reset console pwd',
        id: 'ResetConsolePwd',
        description: 'Rotate the console password of the IAM users in these findings now (their secrets must be rotated by this function).',
      });
      resetRule('SecurityHubReset', 'Security Hub custom action "Reset console pwd"', {
        'source': ['aws.securityhub'],
        'detail-type': ['Security Hub Findings - Custom Action'],
        'resources': [actionArn],
      });
      new cdk.CfnOutput(this, 'SecurityHubActionTargetArn', { value: actionArn });
    }
    if (resets.breakGlass) {
      resetRule('ConsoleSignInReset', 'Successful console sign-ins of IAM users (reset after the reset delay)', RESET_EVENT_PATTERNS.consoleSignIn);
    }
    if (resets.checkout) {
      // Read-only management events reach a rule only in this state.
      resetRule('SecretReadReset', 'Secret reads (GetSecretValue) - reset after the reset delay', secretReadPattern(role.roleArn, resets.checkoutSecretNamePrefix),
        { state: 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS' });
    }
    if (resets.drift) {
      // IAM's events reach EventBridge in us-east-1 only: elsewhere, deploy forwarding.yaml there.
      resetRule('DriftRepair', 'Console passwords changed outside the rotation function', RESET_EVENT_PATTERNS.drift);
    }
    // EventBridge may send to the dead-letter queue only for these rules.
    if (ruleArns.length > 0) {
      new sqs.CfnQueuePolicy(this, 'DeadLetterQueuePolicy', {
        queues: [deadLetterQueue.ref],
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{
            Sid: 'EventBridgeRulesOfThisStackOnly',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: deadLetterQueue.attrArn,
            Condition: { ArnEquals: { 'aws:SourceArn': ruleArns } },
          }],
        },
      });
    }
    if (crossAccount && (resets.breakGlass || resets.checkout || resets.drift)) {
      // Member accounts forward their events (forwarding.yaml) to this default bus: admit
      // the forwarding rules' role of the organisation's accounts, for the forwarded sources only.
      const sources = [
        ...(resets.breakGlass ? ['aws.signin'] : []),
        ...(resets.checkout ? ['aws.secretsmanager'] : []),
        ...(resets.drift ? ['aws.iam'] : []),
      ];
      new events.CfnEventBusPolicy(this, 'OrganizationEventsPolicy', {
        eventBusName: 'default',
        statementId: `${props.functionName}-org`,
        statement: {
          Effect: 'Allow',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: this.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' }),
          Condition: {
            StringEquals: { 'aws:PrincipalOrgID': organization.organizationId, 'events:source': sources },
            ArnLike: { 'aws:PrincipalArn': `arn:${this.partition}:iam::*:role/iam-password-rotation-forwarding/*` },
          },
        },
      });
    }
    if (resets.breakGlass || resets.checkout || resets.drift) {
      new cdk.CfnOutput(this, 'ForwardingTargetEventBusArn', {
        value: this.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' }),
        description: 'TargetEventBusArn for forwarding.yaml in the regions whose events this stack must see',
      });
    }

    if (props.exampleUserName) {
      const example = new EnrolledUser(this, 'Example', {
        userName: props.exampleUserName,
        path: props.userPath,
        functionArn: fn.functionArn,
        encryptionKey: props.kmsKeyArn ? kms.Key.fromKeyArn(this, 'SecretsKey', props.kmsKeyArn) : undefined,
        rotationDependsOn: [permission, fn],
      });
      new cdk.CfnOutput(this, 'ExampleSecretArn', { value: example.secret.secretArn });
      new cdk.CfnOutput(this, 'ExampleUserName', { value: example.user.userName });
    }
  }
}
