from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_intake')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Person',
            name='email',
            field=fields.CharField(null=True, db_index=True, max_length=320),
        ),
        ops.AddField(
            model_name='Attachment',
            name='sha256',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
    ]
