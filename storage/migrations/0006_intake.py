from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_hours')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Customer',
            name='intake',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.CreateModel(
            name='IntakeMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharField(max_length=16)),
                ('tenant', fields.CharField(max_length=100)),
                ('channel', fields.CharField(max_length=255)),
                ('message_id', fields.CharField(max_length=255)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='intake_messages', on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='intake_messages', on_delete=OnDelete.SET_NULL)),
                ('outcome', fields.CharField(max_length=16)),
                ('text', fields.TextField(unique=False)),
                ('files', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'intake_message', 'app': 'models', 'unique_together': (('platform', 'channel', 'message_id'),), 'indexes': [Index(fields=['contact_id', 'channel', 'sent_at'])], 'pk_attr': 'id', 'table_description': "A contact's top-level message in a customer channel and what intake made of it (bot/intake.py)."},
            bases=['Model'],
        ),
    ]
