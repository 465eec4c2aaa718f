import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, IDependable } from 'constructs';

/** The tag on a user whose value names the one secret that may rotate its password. */
export const BINDING_TAG = 'password-rotation:secret-arn';

export interface EnrolledUserProps {
  /** The IAM user's name: explicit, so that the secret can name the user before the user exists. */
  readonly userName: string;
  /** The user's IAM path: under the function's userPath, or the function may not touch it. */
  readonly path: string;
  /** The rotation function's unqualified ARN (the role's Secrets Manager permission names exactly it). */
  readonly functionArn: string;
  /** Customer managed key of the secret; undefined = aws/secretsmanager. */
  readonly encryptionKey?: kms.IKey;
  /** Days between rotations (default 30). */
  readonly rotationDays?: number;
  /** The rotation window (default '2h'). */
  readonly window?: string;
  /** What the first rotation needs first: the function and its Secrets Manager invoke permission. */
  readonly rotationDependsOn?: IDependable[];
}

/**
 * An IAM user whose console password the rotation function keeps in a secret: the user,
 * the secret `{"username": ...}` (no password: the first rotation sets one), the binding
 * tag on the user naming the secret's ARN, and the rotation schedule. The first rotation
 * starts when the schedule is created, so the function must be deployed with
 * CREATE_LOGIN_PROFILE=true: the user has no console password until then.
 *
 * For users that exist outside the app, use the repository's scripts/enrolment.py.
 */
export class EnrolledUser extends Construct {
  readonly user: iam.User;
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: EnrolledUserProps) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: `Console password of the IAM user ${props.userName}`,
      secretObjectValue: { username: cdk.SecretValue.unsafePlainText(props.userName) },
      encryptionKey: props.encryptionKey,
    });
    this.user = new iam.User(this, 'User', { userName: props.userName, path: props.path });
    cdk.Tags.of(this.user).add(BINDING_TAG, this.secret.secretArn);

    // An imported reference, not the Function: for a function defined in the same app,
    // addRotationSchedule also grants its role read/write on this secret and
    // secretsmanager:GetRandomPassword on "*", and adds an invoke permission without
    // SourceAccount - all beyond the function's least-privilege statements.
    const rotationLambda = lambda.Function.fromFunctionAttributes(this, 'RotationFunctionRef', {
      functionArn: props.functionArn,
      sameEnvironment: true,
    });
    const schedule = this.secret.addRotationSchedule('Rotation', {
      rotationLambda,
      automaticallyAfter: cdk.Duration.days(props.rotationDays ?? 30),
    });
    // The rotation window (no L2 property for it).
    (schedule.node.defaultChild as secretsmanager.CfnRotationSchedule)
      .addPropertyOverride('RotationRules.Duration', props.window ?? '2h');
    // The first rotation starts at once: the function must be invocable and the user tagged.
    schedule.node.addDependency(this.user, ...(props.rotationDependsOn ?? []));
  }
}
